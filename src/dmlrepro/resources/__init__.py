"""What a model costs: parameters, MACs, peak memory per image, throughput.

* ``core``       — generic measurement of any ``nn.Module`` and input (no model knowledge);
* ``registry``   — ``register_measurer`` / ``list_measurers`` / ``get_measurer`` / ``measure``;
* ``measurers/`` — one file per model family (``pcb``, ``aianet``), registered on import of the
  package; ``measure`` (the command line) imports it;
* ``peak_memory``, ``scaling`` — the peak-memory probe and the attention scaling study.

Dependencies run one way (measure → measurers → core, registry → peak_memory): no cycle.
"""
