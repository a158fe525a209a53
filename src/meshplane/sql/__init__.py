"""meshplane.sql"""
