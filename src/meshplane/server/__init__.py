"""meshplane.server"""
