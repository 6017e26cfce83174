"""The world the product does not know: how fast vans really go through a city (by hour and by
area), how much longer the road is than the straight line in each part of it, how each driver
differs, how long stops really take, and the stops nobody planned. Only the simulator reads it.
No product module imports it, and it imports nothing of the product (import-linter contracts in
pyproject.toml), so what the product reports about time is measured against something it could
not have computed (bench/eta.py)."""
