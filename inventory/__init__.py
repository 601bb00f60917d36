"""Inventory: the tables, the ERP-export ingest, and the lot and SKU-site facts measured on them."""
