"""meshplane.engines"""
