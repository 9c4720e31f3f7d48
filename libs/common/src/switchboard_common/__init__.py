"""Switchboard's shared contracts: the only place subjects are spelled and bus messages defined."""
