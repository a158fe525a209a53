"""meshplane.storage"""
