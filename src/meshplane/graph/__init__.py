"""meshplane.graph"""
