"""yoked-actors: Yoked's background jobs on Dramatiq, RabbitMQ and PostgreSQL."""

__version__ = "0.1.0"
