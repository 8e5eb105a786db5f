"""A valid shipment row of the contract's required columns, as text, for input tests."""
from __future__ import annotations

GOOD_ROW = {
    "shipment_id": "S1",
    "arrival_date": "2025-03-01",
    "importer_id": "IMP1",
    "exporter_id": "EXP1",
    "hs_code": "850440",
    "origin_country": "VN",
    "export_country": "VN",
    "declared_value_usd": "1000",
    "weight_kg": "10",
}
