"""meshplane.governance"""
