"""LUSApp: lung-ultrasound review with live pattern masks, zone scores and patient severity."""

__version__ = "0.1.0"
