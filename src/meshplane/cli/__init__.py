"""meshplane.cli"""
