"""Core of the lakehouse: settings, the registry of topics and tables, the Spark session factory,
installation of the runtime and the local service stack."""

__version__ = "0.1.0"
