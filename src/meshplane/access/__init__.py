"""meshplane.access"""
