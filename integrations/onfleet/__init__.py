"""An Onfleet-compatible API (`/onfleet/api/v2/`): integrators written against Onfleet's API and
its official Python client (pyonfleet) change the base URL and keep their code. Tasks are our
orders, workers our drivers (with the van of their shift), teams our fleets, hubs our hubs."""
