"""meshplane.contracts"""
