"""Synthetic shipment worlds: honest trade, transshipment after tariff events, honest look-alikes.

``generate_world`` draws a world from a seed; ``write_world`` writes it as contract files
(see ``docs/generator.md``). Used for demos, tests and benchmarks, never for real data.
"""
from detector.synth.world import World, generate_world, write_world

__all__ = ["World", "generate_world", "write_world"]
