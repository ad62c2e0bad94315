"""Discrete-event simulation of an industrial cluster."""
