"""What a model costs: parameters, peak memory per image, throughput."""
