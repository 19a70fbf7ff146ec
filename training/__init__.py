"""Train a Fashion-MNIST classifier and write the artifacts the app serves (docs/architecture.md).

Data flows one way: `data` -> `models`/`scratch` -> `train` -> `export` (+ `report`'s figures);
`cli` wires them, and `config` (no torch) holds what every stage shares.
"""
