"""The DRF API (contract.md, REST API), mounted at /api/v1/."""
