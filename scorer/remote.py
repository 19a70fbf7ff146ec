"""Score through a running service instead of a local model (`--url`).

Image files go up as they are (multipart, repeated `image` fields), so the service decodes them
with its own settings; already-decoded arrays go up as JSON pixel arrays. A batch the service
refuses as a whole is split until each bad file stands alone, so it costs only its own row.
Standard library only (urllib): the slim serving image has no requests.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

from scorer.sources import Batch

MODEL_ROUTE = "/v1/models/fashion-mnist"
PREDICTION_KEYS = ("label", "class_index", "confidence", "probabilities")  # the prediction object
# null (None) when the service or its model predates the out-of-distribution detector
OPTIONAL_KEYS = ("ood_score", "out_of_distribution")
_CLIENT_ERRORS = (400, 413, 415, 422)  # about the images sent: worth splitting the request


class RemoteError(Exception):
    """The service cannot be reached or answered something that is not the API."""


class RemoteModel:
    """The service at `url` behind the same `infer` / `results` interface as the local model."""

    needs_pixels = False  # files go up undecoded

    def __init__(self, url: str, timeout: float = 60.0, api_key: str | None = None) -> None:
        self.url, self.timeout, self._api_key = url.rstrip("/"), timeout, api_key
        status, self.metadata = self._call("GET", MODEL_ROUTE)
        if status == 401:
            raise RemoteError(f"{self.url} needs an API key: set API_KEY" if not api_key
                              else f"{self.url} did not accept the key in API_KEY")
        if status != 200 or not isinstance(self.metadata.get("classes"), list):
            raise RemoteError(f"{self.url}{MODEL_ROUTE} answered {status}: {self.metadata}")
        self.classes: list[str] = self.metadata["classes"]
        self.version: str = str(self.metadata.get("version"))
        self.backend, self.device = "remote", self.url

    def infer(self, batch: Batch) -> list[dict]:
        """A prediction or `{"error": message}` per image of the batch, in order."""
        ok = batch.ok()
        return batch.results(ok, self._predict(batch, ok) if ok else [])

    def results(self, batch: Batch, inferred: list[dict]) -> list[dict]:
        """The rows `infer` got from the service (the local model formats here instead)."""
        return inferred

    def _predict(self, batch: Batch, todo: list[int]) -> list[dict]:
        """Predictions for the images at `todo`. A request refused as a whole (a bad file, more
        images than the service's MAX_BATCH) is split in halves until the culprits stand alone."""
        if batch.paths is not None:
            status, body = self._multipart([batch.paths[i] for i in todo])
        else:
            payload = {"images": [batch.pixels[i].tolist() for i in todo]}
            status, body = self._call("POST", "/predict", json.dumps(payload).encode(),
                                      "application/json")
        if status == 200:
            # The version of the model that answered: the service may change models mid-run.
            version = str(body.get("model_version", self.version))
            try:
                predictions = [{**{key: p[key] for key in PREDICTION_KEYS},
                                **{key: p.get(key) for key in OPTIONAL_KEYS}, "model_version": version}
                               for p in body.get("predictions", [body])]
            except (KeyError, TypeError):
                raise RemoteError(f"{self.url}/predict did not answer prediction objects: "
                                  f"{str(body)[:200]}") from None
            if len(predictions) != len(todo):
                raise RemoteError(f"asked for {len(todo)} predictions, got {len(predictions)}")
            return predictions
        if status not in _CLIENT_ERRORS:  # the service is down or broken: no point going on
            raise RemoteError(f"{self.url}/predict answered {status}: {body}")
        if len(todo) == 1:
            message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else None
            return [{"error": message or f"the service answered {status}"}]
        half = len(todo) // 2
        return self._predict(batch, todo[:half]) + self._predict(batch, todo[half:])

    def _multipart(self, paths: list[str]) -> tuple[int, dict]:
        boundary = uuid.uuid4().hex
        parts = []
        for path in paths:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError as exc:  # answered like a refused image, so it gets its own error row
                return 400, {"error": {"message": f"cannot read the file: {exc.strerror or exc}"}}
            name = path.rsplit("/", 1)[-1].replace('"', "_")
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                         f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                         + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self._call("POST", "/predict", body, f"multipart/form-data; boundary={boundary}")

    def _call(self, method: str, route: str, body: bytes | None = None,
              content_type: str | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + route, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if self._api_key:
            request.add_header("Authorization", f"Bearer {self._api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise RemoteError(f"cannot reach {self.url}: {getattr(exc, 'reason', exc)}") from None
        try:
            body = json.loads(data or b"{}")
        except ValueError as exc:
            body = exc
        if isinstance(body, dict):
            return status, body
        if status >= 400:  # an error answer that is not the API's JSON: its status says enough
            return status, {}
        problem = body if isinstance(body, ValueError) else f"got a JSON {type(body).__name__}"
        raise RemoteError(f"{self.url}{route} did not answer a JSON object: {problem}")
