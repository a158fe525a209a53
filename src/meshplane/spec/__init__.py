"""meshplane.spec"""
