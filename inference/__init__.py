"""The Flask-free core of serving: decoding uploads, the predictor and its backends, the model
repository and the version state, settings and errors. The HTTP app (`app`) and the batch scorer
(`scorer`) build on it; it imports neither (docs/architecture.md)."""
