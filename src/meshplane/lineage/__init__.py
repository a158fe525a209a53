"""meshplane.lineage"""
