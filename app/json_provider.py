"""Flask's JSON provider on orjson: every JSON answer (predictions, errors, metadata) is encoded by
a compiled encoder instead of the standard library's, a tenth of a small request's CPU
(benchmarks/README.md, round 2). Same output as Flask's: compact, keys in insertion order (the
probabilities stay in class-index order), a final newline."""
from __future__ import annotations

import orjson
from flask.json.provider import DefaultJSONProvider


class OrjsonProvider(DefaultJSONProvider):
    sort_keys = False

    def dumps(self, obj, **kwargs) -> str:
        return orjson.dumps(obj, default=self.default).decode()

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(orjson.dumps(obj, default=self.default) + b"\n",
                                        mimetype=self.mimetype)
