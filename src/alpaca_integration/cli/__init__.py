"""The ``alpacactl`` command line. Start-up must stay fast: command modules import heavy
dependencies (httpx, SQLAlchemy, Prefect, the simulator) inside the command bodies only."""
