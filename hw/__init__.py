"""Gateware: the EIE accelerator as Amaranth components."""
