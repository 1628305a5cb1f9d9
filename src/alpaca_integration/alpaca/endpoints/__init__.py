"""The client's endpoints, in groups: ``account`` (account, activities, portfolio history,
positions), ``orders`` (listing, placing, replacing, cancelling), ``reference`` (assets, market
clocks and calendars, watchlists) and ``options`` (option contracts, exercise and
do-not-exercise). ``AlpacaClient`` (``alpaca.client``) is the one class that joins
them; use it, not these groups.

Each group is a thin layer: arguments -> query or body, ``RestTransport`` for the request,
``parse`` for the answer, ``paging`` for listings and ``placement`` for orders. The package imports
``models``, ``errors`` and ``alpaca.*`` from the package; never risk (or any check), storage, sync,
flows or the simulator.
"""

__all__: list[str] = []
