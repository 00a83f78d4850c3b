"""A wire-level fake of the parts of Weaviate the app uses: REST on one port, gRPC on another.

The real `weaviate-client` (and `langchain-weaviate` on top of it) talk to it exactly as to a
Weaviate 1.32 server:

- REST: `GET /v1/meta`, `/v1/.well-known/ready|live` (`openid-configuration` is 404: no
  auth), `GET|POST /v1/schema`, `GET|DELETE /v1/schema/{class}`, `GET /v1/nodes` (the
  dynamic batcher's load probe), `POST /v1/backups/filesystem`, its status and restore (what
  `deploy/weaviate_backup.py` calls). Anything else is 404 and recorded in `unhandled`.
- gRPC, with the client's own generated stubs (`weaviate.proto.v1`): the health check,
  `BatchObjects` (upsert), `BatchDelete` (by filter) and `Search` (near-vector with cosine
  distance, or a plain listing, under property filters), `TenantsGet` (none).

Objects live in memory, per class. Exact search (a dot product over all vectors), not HNSW.
What it does not cover is listed in docs/rag.md ("The Weaviate fake").
"""

from __future__ import annotations

import copy
import struct
import threading
import time
import uuid as uuidlib
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Self

import grpc
import numpy as np
from google.protobuf import struct_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from weaviate.proto.v1 import (
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    tenants_pb2,
    weaviate_pb2_grpc,
)

from tests.fakes.background import BackgroundServer

VERSION = "1.32.2"
Operator = base_pb2.Filters


@dataclass
class StoredObject:
    uuid: str
    properties: dict[str, Any]
    vector: np.ndarray | None
    created: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass
class StoredClass:
    schema: dict[str, Any]
    objects: dict[str, StoredObject] = field(default_factory=dict)


def _class_name(name: str) -> str:
    """Weaviate capitalises the first letter of a class name."""
    return name[:1].upper() + name[1:]


def _property(name: str, data_type: str) -> dict[str, Any]:
    text = data_type in ("text", "text[]")
    return {
        "name": name,
        "dataType": [data_type],
        "indexFilterable": True,
        "indexSearchable": text,
        "indexRangeFilters": False,
        "tokenization": "word" if text else None,
    }


def _class_defaults(body: dict[str, Any]) -> dict[str, Any]:
    """A class definition as Weaviate 1.32 returns it: the body plus the server's defaults."""
    schema = copy.deepcopy(body)
    schema["class"] = _class_name(str(body["class"]))
    schema["properties"] = [
        {**_property(p["name"], p["dataType"][0]), **p} for p in body.get("properties", [])
    ]
    schema.setdefault("vectorizer", "none")
    schema.setdefault("moduleConfig", {})
    schema.setdefault("vectorIndexType", "hnsw")
    vector_index = {
        "skip": False, "cleanupIntervalSeconds": 300, "maxConnections": 32,
        "efConstruction": 128, "ef": -1, "dynamicEfMin": 100, "dynamicEfMax": 500,
        "dynamicEfFactor": 8, "vectorCacheMaxObjects": 1_000_000_000_000,
        "flatSearchCutoff": 40000, "distance": "cosine",
        "pq": {"enabled": False, "bitCompression": False, "segments": 0, "centroids": 256,
               "trainingLimit": 100000,
               "encoder": {"type": "kmeans", "distribution": "log-normal"}},
        "bq": {"enabled": False},
        "sq": {"enabled": False, "trainingLimit": 100000, "rescoreLimit": 20},
        "rq": {"enabled": False, "bits": 8, "rescoreLimit": 20},
        "filterStrategy": "sweeping",
        "multivector": {"enabled": False, "aggregation": "maxSim",
                        "muvera": {"enabled": False, "ksim": 4, "dprojections": 16,
                                   "repetitions": 10}},
    }
    schema["vectorIndexConfig"] = {**vector_index, **schema.get("vectorIndexConfig", {})}
    schema.setdefault("invertedIndexConfig", {
        "cleanupIntervalSeconds": 60, "bm25": {"k1": 1.2, "b": 0.75},
        "stopwords": {"preset": "en", "additions": None, "removals": None},
        "usingBlockMaxWAND": True,
    })
    schema.setdefault("replicationConfig", {
        "factor": 1, "asyncEnabled": False, "deletionStrategy": "NoAutomatedResolution",
    })
    schema.setdefault("shardingConfig", {
        "virtualPerPhysical": 128, "desiredCount": 1, "actualCount": 1,
        "desiredVirtualCount": 128, "actualVirtualCount": 128, "key": "_id",
        "strategy": "hash", "function": "murmur3",
    })
    multi = schema.pop("MultiTenancyConfig", None) or schema.get("multiTenancyConfig") or {}
    schema["multiTenancyConfig"] = {
        "enabled": bool(multi.get("enabled", False)),
        "autoTenantCreation": bool(multi.get("autoTenantCreation", False)),
        "autoTenantActivation": bool(multi.get("autoTenantActivation", False)),
    }
    return schema


def _auto_type(value: Any) -> str:
    """Auto-schema's type for a new property (numbers become `number`, as Weaviate does)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "text[]" if all(isinstance(v, str) for v in value) else "number[]"
    return "text"


def _vector(raw_bytes: bytes, values: Any, vectors: Any) -> np.ndarray | None:
    if raw_bytes:
        return np.frombuffer(raw_bytes, dtype="<f4").astype(np.float32)
    if len(values):
        return np.asarray(list(values), dtype=np.float32)
    for named in vectors:
        if named.vector_bytes:
            return np.frombuffer(named.vector_bytes, dtype="<f4").astype(np.float32)
    return None


def _struct_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "list_value":
        return [_struct_value(v) for v in value.list_value.values]
    if kind == "struct_value":
        return {k: _struct_value(v) for k, v in value.struct_value.fields.items()}
    if kind == "null_value":
        return None
    return getattr(value, kind) if kind else None


def _batch_properties(props: batch_pb2.BatchObject.Properties) -> dict[str, Any]:
    out = {k: _struct_value(v) for k, v in props.non_ref_properties.fields.items()}
    for arrays in (props.text_array_properties, props.int_array_properties,
                   props.number_array_properties, props.boolean_array_properties):
        for item in arrays:
            if hasattr(item, "values_bytes") and item.values_bytes:
                out[item.prop_name] = list(struct.unpack(
                    f"<{len(item.values_bytes) // 8}d", item.values_bytes))
            else:
                out[item.prop_name] = list(item.values)
    for name in props.empty_list_props:
        out[name] = []
    return out


def _result_value(value: Any) -> properties_pb2.Value:
    if value is None:
        return properties_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return properties_pb2.Value(bool_value=value)
    if isinstance(value, int | float):
        return properties_pb2.Value(number_value=float(value))
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return properties_pb2.Value(list_value=properties_pb2.ListValue(
                text_values=properties_pb2.TextValues(values=value)))
        packed = struct.pack(f"<{len(value)}d", *map(float, value))
        return properties_pb2.Value(list_value=properties_pb2.ListValue(
            number_values=properties_pb2.NumberValues(values=packed)))
    return properties_pb2.Value(text_value=str(value))


def _filter_value(f: base_pb2.Filters) -> Any:
    kind = f.WhichOneof("test_value")
    if kind is None:
        return None
    value = getattr(f, kind)
    if kind.endswith("_array"):
        return list(value.values)
    return value


def _filter_property(f: base_pb2.Filters) -> str:
    if f.HasField("target"):
        if f.target.WhichOneof("target") != "property":
            raise NotImplementedError("the fake filters on plain properties only")
        return f.target.property
    return f.on[0] if f.on else ""


def _matches(obj: StoredObject, f: base_pb2.Filters) -> bool:
    op = f.operator
    if op == Operator.OPERATOR_AND:
        return all(_matches(obj, sub) for sub in f.filters)
    if op == Operator.OPERATOR_OR:
        return any(_matches(obj, sub) for sub in f.filters)
    if op == Operator.OPERATOR_NOT:
        return not all(_matches(obj, sub) for sub in f.filters)
    name = _filter_property(f)
    have = obj.uuid if name in ("_id", "id") else obj.properties.get(name)
    want = _filter_value(f)
    have_list = have if isinstance(have, list) else [have]
    if op == Operator.OPERATOR_EQUAL:
        return bool(have == want)
    if op == Operator.OPERATOR_NOT_EQUAL:
        return bool(have != want)
    if op == Operator.OPERATOR_CONTAINS_ANY:
        return any(v in want for v in have_list)
    if op == Operator.OPERATOR_CONTAINS_ALL:
        return all(v in have_list for v in want)
    if op == Operator.OPERATOR_CONTAINS_NONE:
        return not any(v in want for v in have_list)
    if op == Operator.OPERATOR_IS_NULL:
        return (have is None) == bool(want)
    raise NotImplementedError(f"filter operator {Operator.Operator.Name(op)} is not faked")


class _Store:
    """Classes and objects, shared by the REST and gRPC sides under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.classes: dict[str, StoredClass] = {}

    def cls(self, name: str) -> StoredClass | None:
        return self.classes.get(_class_name(name))

    def auto_schema(self, stored: StoredClass, properties: dict[str, Any]) -> None:
        known = {p["name"] for p in stored.schema["properties"]}
        for name, value in properties.items():
            if name not in known and value is not None:
                stored.schema["properties"].append(_property(name, _auto_type(value)))
                known.add(name)


class _Grpc(weaviate_pb2_grpc.WeaviateServicer):  # type: ignore[misc]
    def __init__(self, fake: FakeWeaviate) -> None:
        self.fake = fake

    def _abort(self, context: grpc.ServicerContext, message: str) -> Any:
        self.fake.errors.append(message)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)

    def BatchObjects(
        self, request: batch_pb2.BatchObjectsRequest, context: grpc.ServicerContext
    ) -> batch_pb2.BatchObjectsReply:
        self.fake.calls.append("grpc BatchObjects")
        errors = []
        store = self.fake.store
        with store.lock:
            for index, obj in enumerate(request.objects):
                stored = store.cls(obj.collection)
                if stored is None:
                    # Auto-schema would create the class; the app always creates it first.
                    stored = store.classes.setdefault(
                        _class_name(obj.collection),
                        StoredClass(_class_defaults({"class": obj.collection})),
                    )
                if obj.tenant:
                    errors.append(batch_pb2.BatchObjectsReply.BatchError(
                        index=index, error="multi-tenancy is not faked"))
                    continue
                properties = _batch_properties(obj.properties)
                store.auto_schema(stored, properties)
                object_id = obj.uuid or str(uuidlib.uuid4())
                stored.objects[object_id] = StoredObject(
                    uuid=object_id, properties=properties,
                    vector=_vector(obj.vector_bytes, obj.vector, obj.vectors),
                )
        return batch_pb2.BatchObjectsReply(took=0.001, errors=errors)

    def BatchDelete(
        self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.ServicerContext
    ) -> batch_delete_pb2.BatchDeleteReply:
        self.fake.calls.append("grpc BatchDelete")
        store = self.fake.store
        with store.lock:
            stored = store.cls(request.collection)
            if stored is None:
                return self._abort(context, f"class {request.collection} does not exist")
            try:
                doomed = [o for o in stored.objects.values() if _matches(o, request.filters)]
            except NotImplementedError as exc:
                return self._abort(context, str(exc))
            if not request.dry_run:
                for obj in doomed:
                    del stored.objects[obj.uuid]
        objects = [
            batch_delete_pb2.BatchDeleteObject(uuid=uuidlib.UUID(o.uuid).bytes, successful=True)
            for o in doomed
        ] if request.verbose else []
        return batch_delete_pb2.BatchDeleteReply(
            took=0.001, failed=0, matches=len(doomed), successful=len(doomed), objects=objects
        )

    def TenantsGet(
        self, request: tenants_pb2.TenantsGetRequest, context: grpc.ServicerContext
    ) -> tenants_pb2.TenantsGetReply:
        self.fake.calls.append("grpc TenantsGet")
        return tenants_pb2.TenantsGetReply(took=0.001, tenants=[])

    def Search(
        self, request: search_get_pb2.SearchRequest, context: grpc.ServicerContext
    ) -> search_get_pb2.SearchReply:
        self.fake.calls.append("grpc Search")
        unsupported = [
            name for name in ("hybrid_search", "bm25_search", "near_object", "near_text",
                              "group_by", "generative", "rerank")
            if request.HasField(name)
        ]
        if unsupported or request.tenant or request.sort_by:
            return self._abort(context, f"not faked: {unsupported or 'tenant/sort'}")
        store = self.fake.store
        with store.lock:
            stored = store.cls(request.collection)
            if stored is None:
                return self._abort(context, f"could not find class {request.collection}")
            try:
                candidates = [
                    o for o in stored.objects.values()
                    if not request.HasField("filters") or _matches(o, request.filters)
                ]
            except NotImplementedError as exc:
                return self._abort(context, str(exc))
            scored: list[tuple[StoredObject, float | None]]
            if request.HasField("near_vector"):
                near = request.near_vector
                query = _vector(near.vector_bytes, near.vector, near.vectors)
                if query is None:
                    return self._abort(context, "near_vector without a vector")
                with_vectors = [o for o in candidates if o.vector is not None]
                if with_vectors:
                    matrix = np.stack([o.vector for o in with_vectors])  # type: ignore[misc]
                    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(query))
                    cosine = (matrix @ query) / np.where(norms == 0, 1, norms)
                    distances = 1.0 - cosine
                    order = np.argsort(distances, kind="stable")
                    scored = [(with_vectors[i], float(distances[i])) for i in order]
                else:
                    scored = []
                if near.HasField("distance"):
                    scored = [(o, d) for o, d in scored if d is not None and d <= near.distance]
            else:
                scored = [(o, None) for o in sorted(candidates, key=lambda o: o.created)]
            offset = request.offset or 0
            limit = request.limit or self.fake.default_limit
            page = scored[offset : offset + limit]
            results = [self._result(stored, obj, distance, request) for obj, distance in page]
        return search_get_pb2.SearchReply(took=0.001, results=results)

    @staticmethod
    def _result(
        stored: StoredClass, obj: StoredObject, distance: float | None,
        request: search_get_pb2.SearchRequest,
    ) -> search_get_pb2.SearchResult:
        wanted = request.properties
        if wanted.return_all_nonref_properties or not request.HasField("properties"):
            names = [p["name"] for p in stored.schema["properties"]]
        else:
            names = list(wanted.non_ref_properties)
        props = properties_pb2.Properties(
            fields={n: _result_value(obj.properties.get(n)) for n in names if n in obj.properties}
        )
        meta = search_get_pb2.MetadataResult(id=obj.uuid, id_as_bytes=uuidlib.UUID(obj.uuid).bytes)
        if request.metadata.distance and distance is not None:
            meta.distance = distance
            meta.distance_present = True
            meta.certainty = 1 - distance / 2
            meta.certainty_present = request.metadata.certainty
        if request.metadata.vector and obj.vector is not None:
            meta.vector_bytes = obj.vector.astype("<f4").tobytes()
        if request.metadata.creation_time_unix:
            meta.creation_time_unix = obj.created
            meta.creation_time_unix_present = True
        return search_get_pb2.SearchResult(
            properties=search_get_pb2.PropertiesResult(non_ref_props=props), metadata=meta
        )


def _health(request: Any, context: grpc.ServicerContext) -> Any:
    return health_weaviate_pb2.WeaviateHealthCheckResponse(
        status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
    )


class FakeWeaviate(BackgroundServer):
    """REST (`base_url`, `port`) and gRPC (`grpc_port`) of one fake Weaviate node."""

    def __init__(self, *, default_limit: int = 10) -> None:
        self.store = _Store()
        self.default_limit = default_limit
        self.calls: list[str] = []
        self.unhandled: list[str] = []
        self.errors: list[str] = []
        self.backups: dict[str, dict[str, Any]] = {}
        self._grpc: grpc.Server | None = None
        self.grpc_port = 0
        super().__init__(self._rest_app(), name="fake Weaviate")

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Self:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Grpc(self), server)
        health = grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health",
            {"Check": grpc.unary_unary_rpc_method_handler(
                _health,
                request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
                response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
            )},
        )
        server.add_generic_rpc_handlers((health,))
        self.grpc_port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._grpc = server
        return super().start()

    def stop(self) -> None:
        super().stop()
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait(5)
            self._grpc = None

    @property
    def url(self) -> str:
        """What WEAVIATE_URL is set to (the gRPC port is `grpc_port`, KB_WEAVIATE_GRPC_PORT)."""
        return self.base_url

    def _backup_view(self, backup_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.backups[backup_id].items() if not k.startswith("_")}

    def count(self, class_name: str) -> int:
        with self.store.lock:
            stored = self.store.cls(class_name)
            return 0 if stored is None else len(stored.objects)

    # ------------------------------------------------------------------ REST

    def _rest_app(self) -> Starlette:
        store = self.store

        async def meta(request: Request) -> Response:
            self.calls.append("GET /v1/meta")
            return JSONResponse({"hostname": "http://[::]:8080", "version": VERSION,
                                 "modules": {}, "grpcMaxMessageSize": 104858000})

        async def ok(request: Request) -> Response:
            return Response(status_code=200)

        async def schema(request: Request) -> Response:
            if request.method == "POST":
                self.calls.append("POST /v1/schema")
                body = await request.json()
                with store.lock:
                    name = _class_name(str(body.get("class", "")))
                    if not name:
                        return JSONResponse({"error": [{"message": "class name is empty"}]}, 422)
                    if name in store.classes:
                        return JSONResponse(
                            {"error": [{"message": f"class name {name!r} already exists"}]}, 422)
                    store.classes[name] = StoredClass(_class_defaults(body))
                    return JSONResponse(store.classes[name].schema)
            self.calls.append("GET /v1/schema")
            with store.lock:
                return JSONResponse({"classes": [c.schema for c in store.classes.values()]})

        async def one_class(request: Request) -> Response:
            name = request.path_params["name"]
            self.calls.append(f"{request.method} /v1/schema/{{class}}")
            with store.lock:
                if request.method == "DELETE":
                    store.classes.pop(_class_name(name), None)
                    return Response(status_code=200)
                stored = store.cls(name)
                if stored is None:
                    return Response(status_code=404)
                return JSONResponse(stored.schema)

        async def nodes(request: Request) -> Response:
            self.calls.append("GET /v1/nodes")
            with store.lock:
                shards = [{"name": "shard0", "class": c, "objectCount": len(s.objects)}
                          for c, s in store.classes.items()]
                total = sum(len(s.objects) for s in store.classes.values())
            return JSONResponse({"nodes": [{
                "name": "node1", "status": "HEALTHY", "version": VERSION, "gitHash": "fake",
                "stats": {"shardCount": len(shards), "objectCount": total},
                "batchStats": {"queueLength": 0, "ratePerSecond": 0},
                "shards": shards if request.query_params.get("output") == "verbose" else None,
            }]})

        async def backups(request: Request) -> Response:
            backend = request.path_params["backend"]
            if request.method == "POST":
                body = await request.json()
                self.calls.append(f"POST /v1/backups/{backend}")
                backup_id = str(body.get("id", ""))
                if not backup_id or backup_id in self.backups:
                    return JSONResponse({"error": [{"message": f"backup {backup_id!r} exists"}]},
                                        422)
                with store.lock:
                    names = body.get("include") or list(store.classes)
                    saved = {n: copy.deepcopy(store.classes[n]) for n in names
                             if n in store.classes}
                self.backups[backup_id] = {"id": backup_id, "backend": backend,
                                           "classes": list(saved), "status": "SUCCESS",
                                           "path": f"/var/lib/weaviate/backups/{backup_id}",
                                           "_data": saved}
                return JSONResponse({**self._backup_view(backup_id), "status": "STARTED"})
            backup_id = request.path_params.get("backup_id", "")
            self.calls.append(f"GET /v1/backups/{backend}/{{id}}")
            if backup_id not in self.backups:
                return JSONResponse({"error": [{"message": "backup not found"}]}, 404)
            return JSONResponse(self._backup_view(backup_id))

        async def restore(request: Request) -> Response:
            backend, backup_id = request.path_params["backend"], request.path_params["backup_id"]
            self.calls.append(f"{request.method} /v1/backups/{backend}/{{id}}/restore")
            found = self.backups.get(backup_id)
            if found is None:
                return JSONResponse({"error": [{"message": "backup not found"}]}, 404)
            if request.method == "GET":
                status = found.get("restore_status")
                if status is None:
                    return JSONResponse({"error": [{"message": "no restore running"}]}, 404)
                return JSONResponse({"id": backup_id, "backend": backend, "status": status,
                                     "classes": found["classes"]})
            with store.lock:
                clash = [n for n in found["_data"] if n in store.classes]
                if clash:
                    return JSONResponse({"error": [{"message":
                        f"cannot restore class {clash[0]!r}: class name already exists"}]}, 422)
                for name, saved in found["_data"].items():
                    store.classes[name] = copy.deepcopy(saved)
            found["restore_status"] = "SUCCESS"
            return JSONResponse({"id": backup_id, "backend": backend, "status": "STARTED",
                                 "classes": found["classes"]})

        async def unhandled(request: Request) -> Response:
            self.unhandled.append(f"{request.method} {request.url.path}")
            return JSONResponse({"error": [{"message": "not faked"}]}, 404)

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
        return Starlette(routes=[
            Route("/v1/meta", meta),
            Route("/v1/.well-known/ready", ok),
            Route("/v1/.well-known/live", ok),
            # No authentication configured: the client asks, and a 404 means "none".
            Route("/v1/.well-known/openid-configuration", lambda r: Response(status_code=404)),
            Route("/v1/schema", schema, methods=["GET", "POST"]),
            Route("/v1/schema/{name}", one_class, methods=["GET", "DELETE"]),
            Route("/v1/nodes", nodes),
            Route("/v1/backups/{backend}", backups, methods=["POST"]),
            Route("/v1/backups/{backend}/{backup_id}", backups),
            Route("/v1/backups/{backend}/{backup_id}/restore", restore, methods=["GET", "POST"]),
            Route("/{path:path}", unhandled, methods=methods),
        ])
