"""Qt-free models: networks (plain torch), bundles, registry, inference engine, quantitative measures."""
