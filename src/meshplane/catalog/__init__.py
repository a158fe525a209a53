"""meshplane.catalog"""
