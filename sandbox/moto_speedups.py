"""Hot spots of moto that make a cohort-sized sandbox slow, replaced with equivalent fast paths.

All are pure performance fixes with moto's own semantics, scoped to a `with speedups():` block:
- EventBridge -> target without an InputTransformer: moto renders its default template through
  jsonpath for every event and target (~10 ms each, and it drops the `account` field); the real
  service delivers the event itself, which is what the fast path does.
- EventBridge PutEvents: for every entry moto builds a message per rule of the bus and JSON round-trips
  and flattens it to test the rule's pattern, though most rules match few events; the fast path flattens
  each entry once and lets moto serve it with only the rules that can match (rules on the drawn id or
  times always go to moto).
  Each message starts as a deep copy of moto's base message (text, an empty list and an empty dict): built
  directly, without deepcopy's dispatch for each value.
- SQS retention check on receive: moto computes every queue attribute (counting all messages) for
  each message it looks at, which is quadratic in the queue depth; the fast path reads the one value.
- EventBridge targets with an input template (moto's archive rule): moto compiles the same jsonpath
  expressions again for every event; the fast path caches the compiled expressions (they are pure).
- EventBridge targets with an input template and no paths of their own (moto's archive rule): moto evaluates
  its eight default paths against every event though the template holds none of their placeholders; such
  a template is filled with the event and its ingestion time alone, as moto then fills it.
- SQS ReceiveMessage: moto lists every visible message of the queue (checking each one's visibility
  against the clock) before taking the first 10; the fast path yields them lazily, so a receive costs
  what it returns, not the queue's depth.
- SQS receipt handles: moto's 185 `choice` draws made from the same generator outputs taken many at a time
  (the same letters, moto's random source left in the same state, seeded or not).
- moto's clock (`unix_time`, behind every SQS visibility check and EventBridge entry): the epoch it subtracts
  is built once instead of at every call.
- SQS DeleteMessage: moto asks every message of the queue for all its receipt handles, twice per delete
  (quadratic in the depth); the fast path finds the message by the handle it was received with.
- SQS DeleteMessageBatch: moto deletes entry by entry, rebuilding the queue's message list for each; a batch of
  handles drawn for distinct messages still in the queue rebuilds it once (any other batch is moto's).
- SQS SendMessage: moto reads the queue's `ContentBasedDeduplication` from `queue.attributes`, which
  computes every attribute, counting all the queue's messages three times, on each send (quadratic in
  the queue's depth); the fast path computes the attributes only when something reads one other than
  that flag.
- DynamoDB Query on a table's own key: moto compares every item of the table with the partition key;
  the fast path hands moto only the queried partition (moto already stores items by partition), so a
  query costs the size of its partition, as in DynamoDB.
- DynamoDB Query on an index: moto sorts the whole table (`all_items`), compares every item's key with the
  queried one, then sorts the matching items again by the index's key (a query costs the table's size,
  not its partition's: the cohort's index queries grew with the table). The fast path skips the first sort,
  whose order the second one replaces (the index key plus the table key is unique per item, so the result
  does not depend on it), and hands moto only the queried partition of a string partition key: the items
  by key value, kept per index from the first query on, updated by every write that changes a stored item
  (put, delete, update, also inside batches, transactions and PartiQL); other keys are filtered from the
  whole table with a plain comparison. moto still checks every candidate itself.
- DynamoDB copies: moto deep-copies whole items on every UpdateItem and Query result; nested values are
  copied by direct recursion instead of `copy.deepcopy`'s dispatch for each one.
- DynamoDB items: moto builds an Item attribute by attribute, re-summing the whole item's size at each
  one (quadratic in the attributes); the fast path keeps the running sum, refusing the same attribute.
- DynamoDB responses: moto's generic serializer looks every member of every AttributeValue up under
  several aliases (~350 lookups per attribute); an AttributeValue already in wire form (every type but
  binary, which moto encodes) is copied as the serializer would emit it.
- DynamoDB UpdateItem: the expression text is parsed once and the tree shared (moto's handler only reads
  it; its validator copies it before changing it: one copy per request instead of three); tree copies
  skip deepcopy's generic `__reduce_ex__` path; the validators' traversal reads each
  processor's node types once instead of at every node; the clause-count and overlapping-path validators,
  which moto runs at every node of the tree (quadratic in the number of actions), check the whole
  expression first and run moto's pass only when it fails, so the error is moto's; the 400 KB item-size
  check, which moto repeats over the whole item on every attribute set, sums the same parts without
  re-wrapping every nested value in a new DynamoType, building lists, or encoding ASCII strings, and
  remembers a scalar attribute's part while the same value is stored (a 16-action SET re-summed a 40-
  attribute item 16 times; lists, maps and sets, which change in place, are sized each time, their number
  and ASCII string members in one loop). The
  validator's ten passes over the whole tree run action by action, each pass over the actions in order:
  on a copy of an action as moto's pass, and on a flat one (`SET name = :value`, `REMOVE name`: most of the
  recorder's actions; and `SET name = if_not_exists(name, :value)` or `list_append(name, :value)`: 1,500 of the
  2,457 UpdateItems of the recorder's tests hold one, each went through six of moto's traversals of a copy) as
  the calls, moto's own methods, that the pass makes on it; should any fail, moto's passes run on the whole
  tree (so the error is moto's). Those functions' share of a replay of the recorder tests' 6,280 DynamoDB
  requests: validation 7.4 -> 2.7 % of py-spy's samples.
- DynamoDB results: moto converts every response's items to plain values through a chain of isinstance and
  hasattr tests at every level of every attribute; plain values, dicts, lists, AttributeValues (not binary),
  stored items and their attributes' dict (GetItem's result) are converted by their exact type, anything else
  by moto.
- DynamoDB Query results: moto deep-copies the items it found before projecting (new items) and filtering
  (reads) them, and its response converts them to new plain dicts without changing them: the fast path
  hands them over uncopied; each result's size (summed twice per item for the 1 MB page limit) is computed
  once per query.
- DynamoDB requests: moto's parser reads every AttributeValue of a request member by member through the
  service model (ten lookups and a dispatch per value); one already in wire form (every type but binary)
  parses to a copy of itself, which the fast path builds directly; so does a map of them (an item), whole.
- DynamoDB UpdateItem without ReturnValues or with ALL_NEW: moto's handler deep-copies and renders the item before
  and after the update to compare them, then drops both (NONE) or answers with the item after it alone (ALL_NEW);
  it is handed a backend whose image before is empty, and after it empty (NONE) or the updated item (ALL_NEW).
  With the four entries below (callgrind, the replay's first 1,500 requests): 11.59 -> 11.07 G instructions.
- DynamoDB UpdateItem's old image: moto's backend deep-copies the stored item before every update, for the
  stream record of a table that has a stream; for a table without one the copy, unread, is not made.
- DynamoDB item copies (ALL_OLD and UPDATED_ answers, streams, transactions): moto copies an item attribute by
  attribute through `copy.deepcopy`'s dispatch; each attribute is copied by the fast DynamoType copy directly.
- DynamoDB UpdateItem's expression clean-up: moto strips the spaces around `=`, `+`, `-` of every expression with
  a regular expression, to test the result for emptiness only; the answer for each text is remembered.
- DynamoDB BatchWriteItem's duplicate check: moto dumps every item and key of the batch to JSON to compare the
  texts (a list's `in`, quadratic); the texts are compared lazily, an item's made only when its first two
  attributes (names, string and number values) cannot tell it from another's (equal texts hold them equal):
  the replay's first 1,500 requests 11.047 -> 11.028 G instructions.
- JSON errors (every DynamoDB refusal, e.g. a failed condition): moto renders an XML body with xmltodict, which
  the JSON error replaces at once with its JSON body; the same state is set without the XML.
- DynamoDB TransactWriteItems: moto deep-copies each table a transaction names, once per operation, to put it
  back should the transaction fail (a 2,400-item table: ~0.15 s a copy); the fast path copies only the partitions
  the operations name and, should moto put the table back, builds the same copy then (a table with a stream is
  moto's: its copy also drops the stream records).
- DynamoDB conditions (ConditionExpression, FilterExpression): parsed once per text, names and value names,
  values in slots filled per request; moto parsed each anew (an UpdateItem's twice).
- Every request: moto lists the response class's methods (`inspect.getmembers`, ~100 members) to find the
  action's method, and draws the 52-character request id one character at a time; the fast path lists each
  class once per block and draws the id as the receipt handles above (the same characters, the same state).
- Every request: moto's stubber matches the URL against every service's pattern (~180 regular expressions),
  then rebuilds the service's URL table to match it again; the service and handler of a URL are found once
  (moto's passthrough and allow-list checks and its backend lookup still run for every request), and so is a
  URL no service matches (the HealthOmics emulator's: moto answers 404, the emulator's hook answered first).
- Every response: moto writes its request id into the body's `<RequestId>` element (XML answers) with a
  regular expression whose look-behind is tried at every character of every body, JSON answers included
  (~0.4 ms per 100 KB: a 1 MB DynamoDB page ~1.5 ms); a text body without `<RequestId>` cannot match, so it is
  left as it is without the search (the request id is drawn and set in the header as moto does).
- Every request: moto turns each request into a werkzeug Request through werkzeug's EnvironBuilder (headers
  objects, URL parsing and IRI quoting each time); the environ's URL part is built by werkzeug once per URL
  and the rest (body, length, content type, headers) as the builder lays it out; also for a request without a
  body (S3 GET, HEAD, DELETE: moto's path cost 4 times the fast one), which has no length (the builder drops a
  Content-Length header); a form's content type without a body (the builder encodes an empty form) is moto's.
- Client side, response timestamps (botocore): dateutil parses each ISO 8601 time (~100 us); HealthOmics
  answers repeat the same times (every sweep lists the same runs), so each text's datetime (immutable) is
  remembered per local time zone. moto's serializers parse each time they answer with the same way (an S3
  listing, each key's LastModified): 400 keys listed 85-118 -> 54-58 ms.
- Responses: moto's serializer asks six alias providers, built anew for each member of each result, which
  names a member may go by; for a plain dict result the names depend only on the member's shape, so they are
  listed once per shape (the lookup in moto's order and its response transformers are moto's).
- Client side, SigV4 (botocore): the signing key (four HMACs of the secret, the day, the region and the
  service) is derived once per day instead of per request, the host of a URL is remembered, and the body the
  signer hashes is prepared alone instead of with a copy of the whole request. moto reads the access key from
  the Authorization header and checks no signature unless a test turns on its IAM authorization
  (INITIAL_NO_AUTH_ACTION_COUNT): until then the signature itself is not computed (a placeholder in its place,
  ~10 % of a DynamoDB call), every other header is botocore's; once it is on, the signature is botocore's.
- Client side, event names (botocore): every event a client emits or registers is renamed through botocore's
  aliases (~20 of them, each tried in turn); the answer is cached per event aliaser, but every session and
  every client starts one anew (3.5 % of a `make test` run's samples, py-spy): with botocore's own aliases,
  the aliased name of an event name depends on nothing else, so those aliasers share one cache. Each handler
  registered (a dozen per new client) has its signature read to check that it takes **kwargs (1 % of the
  run's samples); a function's answer, or a bound method's function's, is remembered.
- Client side, creating a client (botocore; a test run creates thousands, ~5 ms of CPU each): each client builds a
  new service model over the loader's description of its service (the loader caches the description, not the
  model), and with it every operation model and shape again, at its creation (a method per operation) and at its
  first calls; and a new endpoint provider over the service's ruleset (its rules parsed again), whose resolutions
  botocore caches per provider, so a new client's first call resolves its endpoint anew. The models and providers
  only read what they were built from: the clients of one description share one model, those of one ruleset one
  provider. The copy of the session's handlers each client (and each session, from sandbox/shared_loader's
  template) takes is one snapshot per state of the source, made directly node by node, whose nodes the copies
  share until they change one (a node on the changed key's path is copied first). The API methods of a client's
  class (a closure and a lazy docstring per operation) are made once per service description and session emitter
  in a block (each class gets a fresh dict of them); the environment's proxies are remembered per endpoint URL and
  proxy variables; the HTTP session's pool manager (with its SSL context: OpenSSL's SSL_CTX_new) is made at its
  first use, not with the client. Callgrind, 200 clients of 10 services: 10.3 -> 3.6 M instructions per client.
- Client side, DynamoDB AttributeValues (botocore): validating, serializing and parsing one walks it member
  by member through the model; one in wire form (every type but binary) passes validation, serializes and
  parses to a copy of itself, which is what the fast paths accept or build directly, a map of them whole.
- Client side, every call (botocore; tests/sandbox/test_moto_speedups_calls.py; callgrind, 60 rounds of 14 calls
  of DynamoDB, SQS, S3, EventBridge and the HealthOmics emulator: 2,522-2,525 -> 2,277-2,281 M instructions, -9.7 %
  of the whole calls, about a quarter of botocore's side):
  - the endpoint parameters: for each of a ruleset's ~10 parameters botocore asks four sources in turn through
    methods and caches keyed by the operation; where each value comes from (a static value, a member, a JMESPath
    expression, a client context name, a builtin) depends only on the operation, so it is worked out once per
    operation and the values are read in botocore's order;
  - headers: botocore makes a new case-insensitive key (lowercasing the name) at every read and write of a header
    (~40 per call) and tests a missing one by catching a KeyError; one key is kept per name and looked up directly;
    a request's headers (an email message) are listed and read without the email policy's three calls for a value
    in ASCII text (which cannot hold the surrogates the policy looks for);
  - the unsigned request's SignedHeaders (see SigV4 above): a function of the headers' names, remembered per list;
  - retries: the standard and adaptive checks are asked in a loop instead of `any()` over a generator;
  - the invocation id: drawn as `uuid4` draws it (the same bytes of `os.urandom`), as text, without the UUID object;
  - the recursion-detection handler's reads of two Lambda variables, before every call: looked up in the
    environment's data directly instead of through Mapping's KeyError round trip.
- Client side, every call, more (botocore; tests/sandbox/test_moto_speedups_client_calls.py; callgrind, 100 rounds of
  14 calls of DynamoDB, SQS, S3, EventBridge and CloudWatch Logs answered from recorded answers, botocore's side
  alone: 2,173 -> 1,874 M instructions, -13.8 %):
  - parameter validation: botocore walks the input member by member, looking each shape's special cases and method
    up and naming every member in an f-string; what it checks of each shape (types, required and unknown members,
    tagged unions, minimums) is planned once per shape (kept on the shape), and an input passing every check gets
    botocore's empty report; any other is validated by botocore, whose report (the errors, their text) it is;
  - JSON requests: each structure member's written name and whether the serializer writes its value as it is (no
    method for its type) are listed once per shape and serializer class;
  - the event emitter (~10 events and ~26 handlers a call): the aliaser hands the renamed event to the emitter's
    `_emit` directly, which asks once per event whether its debug line would be logged, not once per handler;
  - the User-Agent (built twice a call): the features' component text, a function of the features as botocore joins
    them (each character sanitized), is remembered;
  - JSON answers: each structure member's name, JSON name and whether the parser keeps its value as it is (no
    handler for its type) are listed once per shape and parser class (a document or a tagged union is botocore's).
- Every request, moto's setup (tests/sandbox/test_moto_speedups_requests.py; callgrind, 900 API calls of DynamoDB,
  SQS, S3 and EventBridge: 3.72 -> 3.51 G instructions, -5.7 %, each alone below):
  - the access key: moto searches the Authorization header for it twice per request with a pattern that
    backtracks from the header's end (`AWS.*(?P<access_key>...)`); the header repeats while the signature is not
    computed, so each header's answer (a pure function of it) is remembered (-4.4 %);
  - the backend lookups: moto checks at each (several per request) that the account's backend exists by listing
    the dict's keys and that the service's dict is listed in use by comparing it with each one listed before it;
    when both hold it changes nothing, which is checked directly (-1.7 %);
  - the Date header: werkzeug formats the time to the second; the last second's text is kept (-1.0 %);
  - moto's `utcnow` imports `datetime.UTC` at every call; the fast one reads it once (-0.7 %);
  - the root URL: moto reads every request's `raw_url`, for which werkzeug computes the host and the root URL
    (converted to an IRI) from the scheme, the Host header, the server and the root path; those of a request with
    the same four are cached on it in werkzeug's place, as werkzeug caches them (-2.2 %);
  - the routed backend: moto imports the service's module (`importlib.import_module`) for every request and looks
    the account's backends up twice; a loaded module is read from `sys.modules` and the account looked up once
    (-1.2 %); a request without a body gets the WSGI request fast path (see below; -0.7 %).
- Every request, server side (tests/sandbox/test_moto_speedups_server.py; callgrind, a replay through moto's stubber of
  the first 3,000 requests recorded from four moto-heavy test modules, mostly DynamoDB BatchWriteItem and UpdateItem:
  10.59 -> 10.09 G instructions, -4.8 %, -6.2 % without the process's start; 300 Queries of 25 items: 8.39 -> 8.03 M
  instructions a Query):
  - the headers: botocore's HeadersDict lists its pairs through the generic mapping view, which looks every name up
    again (~10 us a request); its stored pairs are read instead;
  - the body: werkzeug's `Request.data` parses the Content-Type and builds a form parser for every request; a body
    whose Content-Type cannot name a form is read from werkzeug's stream directly, leaving werkzeug's state;
  - moto's snake-case action name (`camelcase_to_underscores`, ~5 us) and raw path (parsed three times a request)
    are remembered per text;
  - DynamoDB's lists of items (Query, Scan, BatchGetItem) in wire form are written item by item directly.
- Every new URL (each new S3 key): moto's S3 backend rebuilds its URL table, reloading its urls module twice, and
  the patterns are compiled again (~0.8 ms a URL); each backend class's table is compiled once per value of moto's
  settings (`MOTO_*`) in the environment, the only input it reads (tests/sandbox/test_moto_speedups_routes.py):
  a route lookup of a new S3 key 0.38 -> 0.15 ms; callgrind, a new key's PutObject 6.43 -> 6.03 M instructions.
- moto's start: `mock_aws()` registers with `responses` (the `requests` library's interception) ~1,300 entries, a
  callback per HTTP method and service URL pattern, each built anew (~5 ms of each start); mock_aws entered inside
  `speedups()` (`with speedups(), mock_aws():`, as tests/conftest.py and sandbox/local.py enter them) registers the
  same entries, built once, each with an empty call record (tests/sandbox/test_moto_speedups_start.py): callgrind,
  a `with speedups(), mock_aws():` start and stop 26.2 -> 5.9 M instructions.
- Every request, the structure walks (tests/sandbox/test_moto_speedups_serialize.py: every operation of the sandbox's
  services, results and requests filled with values of every kind):
  - responses: moto's serializer asks its picker for every member of an output structure (~13 per DynamoDB answer,
    most absent) and dispatches each one present by name; for a plain dict result each member's names are listed
    once per shape, and a string, number or boolean of the exact type moto's method hands on unchanged is written
    directly (DynamoDB BatchWriteItem + UpdateItem answers: 173 -> 130 us a pair; a replay's time in moto's
    `serialize`: 2.39 -> 1.39 s);
  - requests: moto's JSON parser looks every member of an input structure up and parses each one present through
    a handler looked up by name (a failing lookup for a string); the members' JSON names are listed once per shape
    and a value moto keeps as it is is kept directly (UpdateItem + BatchWriteItem: 449 -> 330 us a pair).
- Server side, moto's backends and request setup (tests/sandbox/test_moto_speedups_backend.py; callgrind, a replay
  through moto's stubber of the first 1,000 requests recorded from test_rerun_batch, test_demo, test_rerun_sandbox and
  test_sandbox_polling, the process's start not counted: 7.85 -> 7.19 G instructions, -8.3 %; 300 GetItems
  617.5 -> 570.3 M, -7.6 %; 300 UpdateItems 816.3 -> 762.0 M, -6.6 %):
  - random draws (request ids, receipt handles; see above): each generator output's top byte becomes its character
    through a `bytes.translate` table per pool, out-of-range bytes deleted and redrawn, in C;
  - DynamoType: built from a one-key dict or a DynamoType without moto's two lists and method calls;
  - a table's key attributes (read several times by every UpdateItem, GetItem and write): listed directly;
  - the parser's request parts: werkzeug's `values` (query arguments and form) taken only when a parser reads them
    (the JSON parsers never do);
  - backend lookups: where a BackendDict was last found in moto's list of those in use is looked at first, and a
    region's backend already there is read directly;
  - moto's clock (`utcnow`, see above): the real class's aware time made naive by combining its date and time
    instead of `replace`'s keywords.

tests/sandbox/test_moto_speedups.py runs the same calls with and without the fast paths and compares
the answers and the errors, so the sandbox keeps moto's behaviour when moto changes.
"""

from __future__ import annotations

import copy
import datetime
import functools
import inspect
import itertools
import json
import logging
import math
import os
import random
import re
import string
import struct
import sys
import threading
import time
import types
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from email._policybase import compat32 as email_compat32
from io import BytesIO
from typing import Any, NamedTuple, TypeVar
from unittest import mock
from urllib import request as urllib_request
from urllib.parse import urlparse

import jmespath
import jsonpath_ng.ext
import moto.backend_index as backend_index
import moto.backends as moto_backends
import responses
from botocore import auth as botocore_auth
from botocore import endpoint as botocore_endpoint
from botocore import handlers as botocore_handlers
from botocore import hooks as botocore_hooks
from botocore import httpsession as botocore_httpsession
from botocore import parsers as botocore_parsers
from botocore import regions as botocore_regions
from botocore import serialize as botocore_serialize
from botocore import useragent as botocore_useragent
from botocore import utils as botocore_utils
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest, HeadersDict, _HeaderKey
from botocore.client import ClientCreator
from botocore.compat import HTTPHeaders
from botocore.endpoint import EndpointCreator
from botocore.endpoint_provider import EndpointProvider
from botocore.exceptions import NoCredentialsError
from botocore.hooks import EVENT_ALIASES, EventAliaser, HierarchicalEmitter, NodeList, _PrefixTrie
from botocore.model import ServiceModel
from botocore.regions import EndpointResolverBuiltins, EndpointRulesetResolver
from botocore.retries.standard import OrRetryChecker
from botocore.useragent import UserAgentString
from botocore.validate import ParamValidator, ValidationErrors
from moto import core as moto_core
from moto import settings as moto_settings
from moto.core import custom_responses_mock as moto_responses_mock
from moto.core import models as moto_core_models
from moto.core import responses as moto_core_responses
from moto.core import utils as moto_core_utils
from moto.core.base_backend import AccountSpecificBackend, BackendDict, BaseBackend
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
from moto.core.exceptions import JsonRESTError, ServiceNotWhitelisted, _RESTError
from moto.core.models import MockAWS
from moto.core.parse import JSONParser, RequestParser
from moto.core.request import (
    PRESERVED_HEADER_NAMES_ENVIRON_KEY,
    environ_key_for_header,
    normalize_request,
    should_preserve_original_header_name,
)
from moto.core.request import Request as MotoRequest
from moto.core.responses_custom_registry import CustomRegistry
from moto.core.serialize import (
    DEFAULT_ALIAS_PROVIDERS,
    AttributePicker,
    AttributePickerContext,
    BaseJSONSerializer,
    DefaultAttributePicker,
    ResponseSerializer,
    XFormedAttributePicker,
)
from moto.core.utils import get_equivalent_url_in_aws_domain
from moto.dynamodb import models as moto_dynamodb_models
from moto.dynamodb import responses as moto_dynamodb_responses
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import table as table_module
from moto.dynamodb.models import utilities as moto_dynamodb_utilities
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.models.utilities import bytesize, dynamo_json_dump
from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
    DepthFirstTraverser,
    ExpressionAttribute,
    ExpressionAttributeName,
    ExpressionAttributeValue,
    Node,
    UpdateExpression,
    UpdateExpressionAddAction,
    UpdateExpressionDeleteAction,
    UpdateExpressionFunction,
    UpdateExpressionPath,
    UpdateExpressionRemoveAction,
    UpdateExpressionSetAction,
    UpdateExpressionValue,
)
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.validators import (
    ActionCountValidator,
    EmptyStringKeyValueValidator,
    ExecuteOperations,
    ExpressionAttributeResolvingProcessor,
    ExpressionAttributeValueProcessor,
    NoneExistingPathChecker,
    OverlappingPathsValidator,
    TypeMismatchValidator,
    UpdateExpressionFunctionEvaluator,
    UpdateExpressionValidator,
    UpdateHashRangeKeyValidator,
)
from moto.events import models as moto_events_models
from moto.events.models import EventPattern, EventsBackend
from moto.events.utils import _BASE_EVENT_MESSAGE, EventTemplateParser
from moto.moto_api._internal import mock_random
from moto.sqs import models as moto_sqs_models
from moto.sqs.models import Message, Queue, SQSBackend
from werkzeug.exceptions import HTTPException
from werkzeug.formparser import FormDataParser
from werkzeug.test import EnvironBuilder
from werkzeug.utils import cached_property
from werkzeug.wrappers import Request as WerkzeugRequest

_original_parse = EventTemplateParser.parse


# The placeholders moto fills from an event when a template comes without its own paths (its default map).
_DEFAULT_PLACEHOLDERS = tuple(f"<{name}>" for name in EventTemplateParser.DEFAULT_EVENT_INPUT_PATHS_MAP)


def _parse(input_template: str | None, input_paths_map: dict[str, Any] | None, event: dict[str, Any]) -> Any:
    if not input_template and not input_paths_map:  # the event itself, less moto's own bookkeeping field
        # a new top-level dict: targets change only its top-level `time` (and serialize it at once)
        return {key: value for key, value in event.items() if key != "ingestion-time"}
    if input_template and not input_paths_map and not any(p in input_template for p in _DEFAULT_PLACEHOLDERS):
        # A template without paths of its own (moto's archive rule's): moto evaluates its eight default paths
        # against the event, for placeholders this template does not hold, so none is filled; the rest as moto.
        defaults = {"aws.events.event.json": event, "aws.events.event.ingestion-time": event["ingestion-time"]}
        for name, value in defaults.items():
            input_template = input_template.replace(f"<{name}>", EventTemplateParser._stringify(value))
        return json.loads(input_template)
    return _original_parse(input_template, input_paths_map, event)  # type: ignore[arg-type]


class _EventsModuleCopy:
    """The `copy` module as moto's events module sees it under `speedups()`: moto deep-copies its base event
    message (its only use of `copy`) for every entry and rule; that message's values are text, an empty list
    and an empty dict, so the copy is a new dict of the same text and new copies of the rest (deepcopy's
    answer, without its dispatch for each value). Every other use is the copy module's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if value is _BASE_EVENT_MESSAGE and memo is None:
            return {key: _fresh(item) for key, item in value.items()}
        return copy.deepcopy(value, memo)


def _fresh(value: Any) -> Any:
    """deepcopy's answer for text (itself) and an empty list or dict (a new one); anything else is deepcopy's."""
    if type(value) is str:
        return value
    if type(value) in (list, dict) and not value:
        return type(value)()
    return copy.deepcopy(value)


_original_put_events = EventsBackend.put_events
# Top-level fields moto draws per entry or per rule (the event id, its times): a rule whose pattern names
# one is always left to moto, which matches it against the message it builds.
_DRAWN_FIELDS = ("id", "time", "ingestion-time", "$or")


def _put_events(self: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """moto's PutEvents, entry by entry, each seeing only the rules whose pattern can match it.

    For every entry moto builds a message per rule of the bus (a deep copy of its base message, the detail
    parsed again) and hands it to the rule, which JSON round-trips and flattens it to test its pattern and
    drops it unless it matches (most rules of a bus match few events). Here the entry is flattened once and
    the rules it cannot match are hidden from moto while it serves that entry; everything else (validation,
    ids, messages, targets, errors) is moto's. Entries are independent in moto, so serving them one at a
    time answers the same entries."""
    if len(events) > 10:
        return _original_put_events(self, events)
    entries: list[dict[str, Any]] = []
    for event in events:
        bus = _matching_rules_bus(self, event)
        if bus is None:
            entries += _original_put_events(self, [event])
            continue
        rules, matching = bus.rules, _matching_rules(bus.rules, self, event)
        bus.rules = matching
        try:
            entries += _original_put_events(self, [event])
        finally:
            bus.rules = rules
    return entries


def _matching_rules_bus(backend: EventsBackend, event: dict[str, Any]) -> Any:
    """The bus an entry goes to, when moto would deliver it (else None: moto answers it unchanged)."""
    if not (event.get("Source") and event.get("DetailType") and event.get("Detail")):
        return None
    try:
        detail = json.loads(event["Detail"])
    except ValueError:
        return None
    if not isinstance(detail, dict):
        return None
    name = backend._normalize_event_bus_arn(event.get("EventBusName")) or "default"
    return backend.event_buses.get(name.split(f"{backend.account_id}:event-bus/")[-1])


def _matching_rules(rules: Any, backend: EventsBackend, event: dict[str, Any]) -> Any:
    probe = {"version": "0", "detail-type": event["DetailType"], "source": event["Source"],
             "account": backend.account_id, "region": backend.region_name,
             "resources": event.get("Resources", []), "detail": json.loads(event["Detail"])}
    flat = EventPattern._flatten_dict(json.loads(json.dumps(probe)))
    kept = type(rules)()
    for name, rule in rules.items():
        pattern = rule.event_pattern._pattern
        if not pattern or any(field in pattern for field in _DRAWN_FIELDS) \
                or rule.event_pattern._does_event_match(flat, pattern):
            kept[name] = rule
    return kept


def _is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
    retention_period = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
    return bool(retention_period + message.sent_timestamp / 1000 > _unix_time())


_original_query = Table.query
_original_table_put_item = Table.put_item
_original_table_delete_item = Table.delete_item
_original_backend_update_item = DynamoDBBackend.update_item


class _IndexPartitions:
    """A table's items by the string value of an index's partition-key attribute, so a Query on the index
    reads its partition instead of every item of the table (moto compares the key of every item, on every
    index Query). Kept up to date by the only writes that change stored items (the table's put and delete,
    the backend's update, which changes an item in place); a table that was replaced (a transaction rolled
    back, a restore) is a new table object, indexed afresh on its first index Query."""

    def __init__(self, attribute: str, items: Iterable[Any]) -> None:
        self.attribute = attribute
        self.items_by_value: dict[str, dict[tuple[Any, Any], Item]] = {}
        self.value_by_key: dict[tuple[Any, Any], str] = {}
        for item in items:
            self.add(item)

    def add(self, item: Any) -> None:
        if not isinstance(item, Item):
            return  # moto skips these itself
        value = item.attrs.get(self.attribute)
        if type(value) is DynamoType and value.type == "S":
            key = (item.hash_key, item.range_key)
            self.items_by_value.setdefault(value.value, {})[key] = item
            self.value_by_key[key] = value.value

    def discard(self, key: tuple[Any, Any]) -> None:
        value = self.value_by_key.pop(key, None)
        if value is not None:
            partition = self.items_by_value[value]
            del partition[key]
            if not partition:
                del self.items_by_value[value]


# id(table) -> (the table, its index partitions by index name), while `speedups()` is active (a stack: blocks
# may nest; entering or leaving one forgets every level's partitions, as writes outside a level's block would
# not have kept them up to date)
_partitions: list[dict[int, tuple[Table, dict[str, _IndexPartitions]]]] = []


def _table_items(table: Table) -> Iterator[Any]:
    for entry in table.items.values():
        yield from (entry.values() if table.range_key_attr else (entry,))


def _index_partitions(table: Table, index_name: str, attribute: str) -> _IndexPartitions:
    entry = _partitions[-1].get(id(table))
    if entry is None or entry[0] is not table:
        entry = _partitions[-1][id(table)] = (table, {})
    partitions = entry[1].get(index_name)
    if partitions is None or partitions.attribute != attribute:
        partitions = entry[1][index_name] = _IndexPartitions(attribute, _table_items(table))
    return partitions


def _reindex(table: Table, key: tuple[Any, Any], item: Any) -> None:
    entry = _partitions[-1].get(id(table)) if _partitions else None
    if entry is None or entry[0] is not table:
        return  # no index of this table was queried yet
    for partitions in entry[1].values():
        partitions.discard(key)
        if item is not None:
            partitions.add(item)


def _table_put_item(self: Table, *args: Any, **kwargs: Any) -> Any:
    item = _original_table_put_item(self, *args, **kwargs)
    _reindex(self, (item.hash_key, item.range_key), item)
    return item


def _table_delete_item(self: Table, *args: Any, **kwargs: Any) -> Any:
    item = _original_table_delete_item(self, *args, **kwargs)
    if item is not None:
        _reindex(self, (item.hash_key, item.range_key), None)
    return item


class _UpdateWithoutImages:
    """The backend as moto's UpdateItem handler sees it when the request asks for no attributes back
    (ReturnValues NONE, the default) or for the new item only (ALL_NEW): the handler deep-copies the stored item
    and renders it as JSON before the update, renders the updated item after it, and compares the two, only to
    drop all of it from the answer (NONE), or to answer with the updated item alone (ALL_NEW: the old one is read
    by ALL_OLD and the UPDATED_ modes only). Here the same backend calls are made (their refusals are the
    handler's), and what they return for those images is no item before the update, and after it an item without
    attributes (NONE) or the updated item (ALL_NEW); the answer is the same."""

    class _NoAttributes:
        @staticmethod
        def to_json() -> dict[str, Any]:
            return {"Attributes": {}}

    def __init__(self, backend: DynamoDBBackend, return_values: str) -> None:
        self._backend = backend
        self._return_values = return_values

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def get_item(self, *args: Any, **kwargs: Any) -> None:
        self._backend.get_item(*args, **kwargs)

    def update_item(self, *args: Any, **kwargs: Any) -> Any:
        item = self._backend.update_item(*args, **kwargs)
        return item if self._return_values == "ALL_NEW" else self._NoAttributes


# The ReturnValues of the UpdateItem this thread's handler serves without the old item's image (None otherwise)
_without_images: ContextVar[str | None] = ContextVar("moto_speedups_update_without_images", default=None)
_original_handler_update_item = moto_dynamodb_responses.DynamoHandler.update_item
_original_handler_backend: property = moto_dynamodb_responses.DynamoHandler.dynamodb_backend  # type: ignore[assignment]
_RETURN_VALUES_WITHOUT_OLD_IMAGE = ("NONE", "ALL_NEW")


def _handler_update_item(self: Any) -> Any:
    return_values = self.body.get("ReturnValues", "NONE")
    if return_values not in _RETURN_VALUES_WITHOUT_OLD_IMAGE:
        return _original_handler_update_item(self)
    token = _without_images.set(return_values)
    try:
        return _original_handler_update_item(self)
    finally:
        _without_images.reset(token)


def _handler_backend(self: Any) -> Any:
    backend = _original_handler_backend.fget(self)  # type: ignore[misc]
    return_values = _without_images.get()
    return backend if return_values is None else _UpdateWithoutImages(backend, return_values)


def _backend_update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any,
                         **kwargs: Any) -> Any:
    """moto's UpdateItem changes the stored item in place (also when it then refuses the update, e.g. an
    item grown past the size limit): the item at the key is indexed again, whatever the outcome.

    moto deep-copies the stored item first, for the table's stream alone (its record's old image): for a table
    without a stream the copy is dropped unread, so that copy is not made (`_BackendModuleCopy`)."""
    table = self.tables.get(table_name)
    token = _uncopied_old_image.set(table is not None and table.stream_shard is None)
    try:
        return _original_backend_update_item(self, table_name, key, *args, **kwargs)
    finally:
        _uncopied_old_image.reset(token)
        table = self.tables.get(table_name)
        entry = _partitions[-1].get(id(table)) if _partitions and table is not None else None
        if entry is not None and entry[0] is table:  # else no index of this table was queried yet
            try:
                hash_key, range_key = self.get_keys_value(table, key)
                current = table.get_item(hash_key, range_key)
            except Exception:  # a key moto refused: index this table afresh on its next index Query
                _partitions[-1].pop(id(table), None)
            else:
                _reindex(table, (hash_key, range_key), current)


class _RollbackTable:
    """What moto keeps of a table before a transaction, to put back should the transaction fail: moto deep-copies
    the whole table, once per operation on it (two copies of a 2,400-item table: 3 % of the demo's CPU).
    Kept here: the order of its partitions and deep copies of those the operations name (only they change);
    should moto put this back, the table becomes a deep copy of itself with those partitions as they were: what
    moto's copy holds, as a new table object as moto's is."""

    def __init__(self, table: Table, touched: set[Any]) -> None:
        self.table = table
        self.order = list(table.items)
        self.saved = {key: copy.deepcopy(table.items[key]) for key in touched if key in table.items}

    def restored(self) -> Table:
        table = copy.deepcopy(self.table)
        items = {key: self.saved[key] if key in self.saved else table.items[key] for key in self.order}
        table.items.clear()
        table.items.update(items)
        return table


# While a thread's transaction runs under moto: the partition keys each table's operations name, by table name
_transaction_keys: ContextVar[dict[str, set[Any]] | None] = ContextVar("moto_speedups_transaction", default=None)
_original_transact_write_items = DynamoDBBackend.transact_write_items


def _partition_keys(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> dict[str, set[Any]] | None:
    """The partition (hash) key each operation names, by table, as moto's tables store them; None when moto's
    own path must run: a table with a stream (an operation adds stream records, moto's copy drops them), or a
    request moto will refuse or read otherwise (its error is moto's)."""
    touched: dict[str, set[Any]] = {}
    for item in transact_items:
        if len(item) != 1:
            return None
        op_type, op = next(iter(item.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue  # moto keeps no copy of a table it does not hold
        if table.stream_shard is not None or op_type not in ("ConditionCheck", "Put", "Delete", "Update"):
            return None
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        if not isinstance(key, dict) or not isinstance(key.get(table.hash_key_attr), dict):
            return None
        touched.setdefault(table.name, set()).add(DynamoType(key[table.hash_key_attr]))
    return touched


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    try:
        touched = _partition_keys(self, transact_items) if len(transact_items) <= 100 else None
    except Exception:  # a malformed request: moto refuses it as it does
        touched = None
    token = _transaction_keys.set(touched)
    try:
        return _original_transact_write_items(self, transact_items)
    finally:
        _transaction_keys.reset(token)
        for name, table in list(self.tables.items()):
            if isinstance(table, _RollbackTable):  # moto put its "copy" back: the transaction failed
                self.tables[name] = table.restored()


# True while moto's UpdateItem runs on a table without a stream, until it copies the stored item (its first copy)
_uncopied_old_image: ContextVar[bool] = ContextVar("moto_speedups_uncopied_old_image", default=False)


class _BackendModuleCopy:
    """The `copy` module as moto's DynamoDB backend sees it under `speedups()`: a table copied for a
    transaction's rollback is a `_RollbackTable`; the stored item (or None) UpdateItem copies for a stream the
    table does not have is itself (the copy would be dropped unread: `_backend_update_item`); every other use
    is the copy module's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if _uncopied_old_image.get() and memo is None and (value is None or type(value) is Item):
            _uncopied_old_image.set(False)  # only UpdateItem's first copy, the old image, is left out
            return value
        touched = _transaction_keys.get()
        if touched is not None and memo is None and type(value) is Table:
            return _RollbackTable(value, touched.get(value.name, set()))
        return copy.deepcopy(value, memo)


def _query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    candidates: list[Any]
    if index_name:
        # moto keeps an index item only if its value equals each queried key value: a string partition key
        # is looked up in the index's partitions (moto still checks every candidate itself); anything else
        # is filtered from the whole table with a plain comparison, one pass per key attribute
        conditions: list[tuple[str, Any]] = list(kwargs.get("hash_key_conditions") or ())
        index = next((i for i in self.all_indexes() if i.name == index_name), None)
        hash_attributes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"] if index else []
        if (_partitions and len(conditions) == 1 and hash_attributes == [conditions[0][0]]
                and type(conditions[0][1]) is DynamoType and conditions[0][1].type == "S"):
            (queried, wanted), = conditions
            partitions = _index_partitions(self, index_name, queried)
            candidates = list(partitions.items_by_value.get(wanted.value, {}).values())
        else:
            strings = [(name, value.value) for name, value in conditions
                       if type(value) is DynamoType and value.type == "S"]
            pool: Iterable[Any] = _table_items(self)
            for name, value in strings:  # no call per item (the table is large)
                pool = [item for item in pool if not isinstance(item, Item)  # moto skips these itself
                        or ((attribute := item.attrs.get(name)) is not None and type(attribute) is DynamoType
                            and attribute.value == value and attribute.type == "S")]
            candidates = list(pool)
    elif hash_key is None or not self.has_range_key:
        return _without_result_copies(_original_query, self, hash_key, *args, **kwargs)
    else:
        candidates = list(self.items.get(hash_key, {}).values())
    token = _query_sizes.set({})  # the sizes `_in_key_range` takes serve moto's page limit too
    try:
        if not index_name:
            candidates = _in_key_range(candidates, _QUERY_PARAMETERS.bind(self, hash_key, *args, **kwargs).arguments)
        handed = _query_candidates.set((self, candidates))  # this call's, on this thread only
        try:
            return _original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_candidates.reset(handed)
    finally:
        _query_sizes.reset(token)


_original_all_items = Table.all_items
# (table, items) while this thread serves a Query of that table: what moto's query reads as the table's items.
# A context variable, not an attribute of the shared table: the sandbox's server serves requests on threads.
_query_candidates: ContextVar[tuple[Table, list[Any]] | None] = ContextVar("_query_candidates", default=None)


def _table_all_items(self: Table) -> Any:
    handed = _query_candidates.get()
    if handed is not None and handed[0] is self:
        return handed[1]
    return _original_all_items(self)


_QUERY_PARAMETERS = inspect.signature(_original_query)


def _in_key_range(partition: list[Any], query: dict[str, Any]) -> list[Any]:
    """The items of a table partition that the sort key condition keeps (moto's own test of each item).

    moto sizes every item of the partition for its 1 MB page limit before testing its sort key, so a
    `begins_with` that keeps 1 item of 70 sized all 70 (most of a Query's time in the sandbox). The items
    it would skip change nothing when left out: its result, count and page end depend on them only if one
    could take the page over 1 MB, impossible while the kept items add up to less than 1 MB less twice
    DynamoDB's 400 KB item limit; a `Limit`, or a filter on other attributes, gets every item, as moto has
    them. One difference remains: moto checks the limit on top-level writes only, so a nested SET can grow
    an item past 810 KB, which DynamoDB never stores; skipped, such an item ends no page here (DynamoDB's
    answer), where moto would end one at it."""
    comparison = query.get("range_comparison")
    if not comparison or query.get("limit") is not None or query.get("filter_kwargs"):
        return partition
    objects = query.get("range_objs")
    conditions = query.get("range_key_conditions")
    name = conditions[-1][0] if conditions else None

    def kept(item: Any) -> bool:
        value = item.attrs.get(name) if name else None
        return bool((value if value else item.range_key).compare(comparison, objects))

    in_range = [item for item in partition if kept(item)]
    # twice moto's limit on a stored item: room for one grown in place by a nested SET
    if sum(item.size() for item in in_range) > RESULT_SIZE_LIMIT - 2 * _ITEM_LIMIT:
        return partition
    return in_range


# id(item) -> its size, while this thread serves a Query (None otherwise; the sandbox's server serves
# requests on several threads): moto sizes each result twice (for the 1 MB page limit, then to add it up),
# and nothing changes an item during a query
_query_sizes: ContextVar[dict[int, int] | None] = ContextVar("_query_sizes", default=None)


def _without_result_copies(query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    token = _query_sizes.set({})
    try:
        return query(*args, **kwargs)
    finally:
        _query_sizes.reset(token)


class _TableModuleCopy:
    """The `copy` module as moto's table module sees it under `speedups()`: moto's Table.query deep-copies
    the items it found (its only use of `copy` there) before projecting them (which builds new items) and
    filtering them (which reads them), and moto's Query response converts each one's attributes to new plain
    dicts (`dynamo_to_dict`) without changing them. Nothing changes the copies, so while a thread serves a
    Query the items themselves serve (a new list of the same items); every other use is the copy module's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if _query_sizes.get() is not None and memo is None and type(value) is list:
            return list(value)
        return copy.deepcopy(value, memo)


def _item_size(self: Item) -> int:
    """moto's `Item.size` (each attribute's name and value), computed once per item and Query."""
    sizes = _query_sizes.get()
    if sizes is None:
        return sum(_bytesize(key) + value.size() for key, value in self.attrs.items())
    size = sizes.get(id(self))
    if size is None:
        size = sizes[id(self)] = sum(_bytesize(key) + value.size() for key, value in self.attrs.items())
    return size


_original_find_clauses = Node.find_clauses
_clauses_seen: ContextVar[dict[tuple[int, tuple[type, ...]], list[Any]] | None] = ContextVar(
    "_clauses_seen", default=None)


def _find_clauses(self: Node, clause_types: Any) -> list[Any]:
    seen = _clauses_seen.get()
    if seen is None:
        if _plain_trees.get(id(self)) is self:  # a shared parse (`_make`): nobody changes it, so neither its clauses
            return _shared_parse_clauses(self, tuple(clause_types))
        return _original_find_clauses(self, clause_types)  # type: ignore[no-any-return]
    key = (id(self), tuple(clause_types))
    if key not in seen:  # the recursion into children comes back here, so each subtree is collected once
        seen[key] = _original_find_clauses(self, clause_types)
    return list(seen[key])


def _remembering_clauses(traverse: Callable[..., Any], check: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    """A validator's pass that first runs the validator's own check on the whole expression.

    moto runs the check at every UpdateExpression node of the tree, bottom up (every clause, action and path
    is one), each collecting the actions below it: quadratic in the number of actions. Each node's actions
    are some of the whole expression's, and both checks (clause counts, duplicate or overlapping paths)
    fail for a part whenever they fail for it, so when the whole expression passes, every node passes and
    the pass changes nothing. Only when it fails does moto's pass run, so the error is the one moto raises
    at the first failing node; that pass remembers each node's clauses, so each subtree is collected once."""

    @functools.wraps(traverse)
    def wrapper(self: Any, node: Any) -> Any:
        if isinstance(node, UpdateExpression):
            try:
                check(self, node)
            except Exception:  # moto's own pass below raises the error moto raises
                pass
            else:
                return node
        token = _clauses_seen.set({})
        try:
            return traverse(self, node)
        finally:
            _clauses_seen.reset(token)

    return wrapper


_ContentBasedDeduplication = "ContentBasedDeduplication"
_original_attributes = Queue.attributes.fget  # type: ignore[attr-defined]


class _QueueAttributes(Mapping[str, Any]):
    """`Queue.attributes` computed on first use, except the one flag SendMessage reads."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    @functools.cached_property
    def _all(self) -> dict[str, Any]:
        return dict(_original_attributes(self._queue))

    def get(self, key: str, default: Any = None) -> Any:
        if key != _ContentBasedDeduplication:
            return self._all.get(key, default)
        if not self._queue.fifo_queue:  # moto lists the FIFO attributes for FIFO queues only
            return default
        value = self._queue.content_based_deduplication  # type: ignore[attr-defined]
        return str(value).lower() if isinstance(value, bool) else value

    def __getitem__(self, key: str) -> Any:
        return self._all[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)


_cached_jsonpath = functools.lru_cache(maxsize=512)(jsonpath_ng.ext.parse)


class _Slot:
    """Where an expression attribute value goes in a condition's parse kept for its text and names."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


# A condition's syntax tree (its values as slots) and the names and values it uses, by its text, its names and
# the names of its values: moto lexes and parses every ConditionExpression and FilterExpression of every
# request anew (an UpdateItem twice: its handler checks which names and values are used, its backend
# evaluates), though all of it but the values depends on those alone.
_condition_parses: OrderedDict[tuple[Any, ...], tuple[Any, list[str], list[str]]] = OrderedDict()
_CONDITION_PARSES_KEPT = 1024
_original_condition_parse = ConditionExpressionParser.parse


def _condition_tree(parser: ConditionExpressionParser) -> Any:
    """moto's `ConditionExpressionParser.parse` up to the checked syntax tree: the same stages in its order."""
    nodes = parser._lex_condition_expression()
    nodes = parser._parse_paths(nodes)
    nodes = parser._apply_functions(nodes)
    nodes = parser._apply_comparator(nodes)
    nodes = parser._apply_in(nodes)
    nodes = parser._apply_between(nodes)
    nodes = parser._apply_parens_and_booleans(nodes)
    node = nodes[0]
    parser._assert_no_redundant_parentheses(node)
    return node


def _filled(node: Any, values: Mapping[str, Any]) -> Any:
    if type(node.value) is _Slot:
        return node._replace(value=values[node.value.name])
    if node.children:
        return node._replace(children=[_filled(child, values) for child in node.children])
    return node


def _condition_parse(self: ConditionExpressionParser) -> Any:
    """moto's parse, its tree built once per text, names and value names with a slot for each value (no stage
    before the conversion to operators reads a value: the lookup only fails on a missing name, which the slots
    reproduce) and filled with this request's values; the names and values used are moto's lists of it. A
    condition moto refuses at any stage is moto's to parse and refuse, each time."""
    text, names, values = self.condition_expression, self.expression_attribute_names, self.expression_attribute_values
    if not text or type(names) not in (dict, type(None)) or type(values) not in (dict, type(None)):
        return _original_condition_parse(self)
    key = (text, None if names is None else tuple(names.items()), None if values is None else tuple(values))
    kept = _condition_parses.get(key)
    if kept is not None:
        _condition_parses.move_to_end(key)  # least recently used out first: a text every request uses stays
    else:
        slots: Any = None if values is None else {name: _Slot(name) for name in values}
        probe = ConditionExpressionParser(text, names, slots)
        try:
            tree = _condition_tree(probe)
        except Exception:
            return _original_condition_parse(self)
        kept = _condition_parses[key] = (tree, probe._find_literals(tree), probe._find_expr_attr_values(tree))
        if len(_condition_parses) > _CONDITION_PARSES_KEPT:
            _condition_parses.popitem(last=False)
    tree, names_found, values_found = kept
    self.expr_attr_names_found.extend(names_found)
    self.expr_attr_values_found.extend(values_found)
    return self._make_op_condition(_filled(tree, values or {}))


class _VisibleMessages:
    """`Queue.messages` evaluated lazily (moto iterates it in receive_message and takes len() of it)."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    def __iter__(self) -> Iterator[Any]:
        return (m for m in list(self._queue._messages) if m.visible and not m.delayed)

    def __len__(self) -> int:
        return sum(1 for m in self._queue._messages if m.visible and not m.delayed)


# ------------------------------------------------------------------ DynamoDB response serialisation
class _NotWireForm(Exception):
    """An AttributeValue moto's generic serializer must handle itself (binary, or not a plain wire value)."""


def _wire_attribute_value(value: Any) -> dict[str, Any]:
    """A copy of a DynamoDB AttributeValue that is already in wire form, exactly as moto's serializer emits
    it: one type key; strings and numbers as str, booleans as bool, maps and lists recursively. Anything
    else (B/BS, which moto base64-encodes, or an unexpected shape) raises, and moto serializes it."""
    if type(value) is not dict or len(value) != 1:
        raise _NotWireForm
    ((kind, inner),) = value.items()
    if kind in ("S", "N") and type(inner) is str:
        return {kind: inner}
    if kind == "M" and type(inner) is dict and "" not in inner:  # moto misplaces an empty name: its own path
        return {"M": {name: _wire_attribute_value(member) for name, member in inner.items()}}
    if kind == "L" and type(inner) is list:
        return {"L": [_wire_attribute_value(member) for member in inner]}
    if kind in ("BOOL", "NULL") and type(inner) is bool:
        return {kind: inner}
    if kind in ("SS", "NS") and type(inner) is list and all(type(member) is str for member in inner):
        return {kind: list(inner)}
    raise _NotWireForm


_original_dynamo_to_dict = moto_dynamodb_utilities.dynamo_to_dict
_PLAIN_RESULT_TYPES = frozenset({str, int, float, bool, type(None)})


def _dynamo_to_dict(value: Any) -> Any:
    """moto's conversion of a result to plain values (every DynamoDB response: each attribute of each item,
    recursively, through a chain of isinstance and hasattr tests at every level), with its plain cases taken by
    their exact type: a str, number, bool or None as it is, a dict or list member by member, an AttributeValue
    (not binary) as {type: its value}, an object with `to_json` as what that gives. Anything else (binary,
    datetimes, subclasses) is converted by moto."""
    kind = type(value)
    if kind in _PLAIN_RESULT_TYPES:
        return value
    if kind is dict or kind is LimitedSizeDict:  # a stored item's attributes (GetItem's result) are the latter
        return {name: _dynamo_to_dict(member) for name, member in value.items()}
    if kind is list:
        return [_dynamo_to_dict(member) for member in value]
    if kind is DynamoType:
        if value.type in ("B", "BS"):
            return _original_dynamo_to_dict(value)
        return {value.type: _dynamo_to_dict(value.value)}
    if kind is Item:
        return _dynamo_to_dict(value.to_json())
    return _original_dynamo_to_dict(value)


_original_json_structure = BaseJSONSerializer._serialize_type_structure


def _plain_value_picker(picker: Any) -> bool:
    """A picker that can only find an AttributeValue's members under their own names (no transformers)."""
    if type(picker) is DefaultAttributePicker:
        return True
    return (type(picker) in (AttributePicker, XFormedAttributePicker)
            and picker.alias_providers == DEFAULT_ALIAS_PROVIDERS and not picker.response_transformers)


def _serialize_type_structure(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
    if (key and shape.name == "AttributeValue" and self.service_model.service_name == "dynamodb"
            and _plain_value_picker(self._value_picker)):
        try:
            wire = _wire_attribute_value(value)
        except _NotWireForm:
            pass
        else:
            self._default_serialize(serialized, wire, shape, key)
            return
    _original_json_structure(self, serialized, value, shape, key)


def _wire_copies(value: dict[str, Any], parse: Callable[[Any], Any]) -> dict[str, Any]:
    """A parsed map of AttributeValues: each value in wire form as its copy, any other as `parse` makes it."""
    parsed = {}
    for name, member in value.items():
        try:
            parsed[name] = _wire_attribute_value(member)
        except _NotWireForm:
            parsed[name] = parse(member)
    return parsed


_original_parse_json_map = JSONParser._parse_map


def _parse_json_map(self: JSONParser, shape: Any, value: Any) -> Any:
    """moto's JSON request parser reads a map key by key (a string key parses to itself) and value by value; for
    a map of AttributeValues (an item, ExpressionAttributeValues) each value in wire form parses to its copy
    (`_parse_json_structure` below): the copies are made directly. Binary and anything else is moto's parse."""
    value_shape = shape.value
    if not (type(self) is JSONParser and self.MAP_TYPE is dict and type(value) is dict
            and shape.key.type_name == "string" and value_shape.name == "AttributeValue"
            and self.operation_model.service_model.service_name == "dynamodb"):
        return _original_parse_json_map(self, shape, value)
    return _wire_copies(value, lambda member: self._parse_shape(value_shape, member))


_original_json_map = BaseJSONSerializer._serialize_type_map


def _serialize_json_map(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
    """moto's JSON serializer writes a map member by member through `_serialize`; for a map of AttributeValues
    (an item) each member is its wire copy (`_serialize_type_structure` above), so the copies are put in the map
    directly. A member not in wire form (binary), an empty attribute name, or a renamed member go through moto."""
    value_shape = shape.value
    if not (type(value) is dict and value_shape.name == "AttributeValue" and "name" not in value_shape.serialization
            and self.service_model.service_name == "dynamodb" and _plain_value_picker(self._value_picker)):
        _original_json_map(self, serialized, value, shape, key)
        return
    map_obj: Any = self.MAP_TYPE()
    self._default_serialize(serialized, map_obj, shape, key)
    for sub_key, sub_value in value.items():
        if sub_key:
            try:
                map_obj[sub_key] = _wire_attribute_value(sub_value)
                continue
            except _NotWireForm:
                pass
        self._serialize(map_obj, sub_value, value_shape, sub_key)


_original_parse_json_structure = JSONParser._parse_structure


def _parse_json_structure(self: JSONParser, shape: Any, value: Any) -> Any:
    """moto's request parser reads an AttributeValue by looking up each of its ten members in turn and
    parsing the one present by its shape (strings, numbers as strings, booleans and their lists and maps
    are kept as they are; binary is base64-decoded): an AttributeValue already in wire form (every type
    but binary) parses to a copy of itself, which is what `_wire_attribute_value` builds. Anything else
    (binary, an unexpected shape) goes to moto's parser."""
    if (shape.name == "AttributeValue" and self.MAP_TYPE is dict
            and self.operation_model.service_model.service_name == "dynamodb"):
        try:
            return _wire_attribute_value(value)
        except _NotWireForm:
            pass
    return _original_parse_json_structure(self, shape, value)


# ------------------------------------------------------------------ DynamoDB UpdateItem
_original_make = UpdateExpressionParser.make.__func__


_PARSES_KEPT = 512
# (parser class, expression) -> its parse, the most recently used last; and id(root) -> root for the kept
# parses whose copy can be `_clone_tree`'s (each validation copies the whole tree: a 40-action SET's copy
# took 0.82 ms through deepcopy's memo, 0.40 ms top down). Evicted together (the server serves on threads).
_parses: OrderedDict[tuple[type, str], Any] = OrderedDict()
_plain_trees: dict[int, Any] = {}
_clauses_of_parses: dict[int, dict[tuple[type, ...], list[Any]]] = {}  # id(root) -> its clauses by type
_actions_of_parses: dict[int, list[tuple[Any, str | None]] | None] = {}  # id(root) -> its actions (`_actions`)
_parses_lock = threading.Lock()


def _parsed_update_expression(cls: type, expression: str) -> Any:
    key = (cls, expression)
    with _parses_lock:
        tree = _parses.get(key)
        if tree is not None:
            _parses.move_to_end(key)
            return tree
    tree = _original_make(cls, expression)  # raises for a refused expression: nothing kept
    with _parses_lock:
        tree = _parses.setdefault(key, tree)
        if _is_plain_tree(tree, None):
            _plain_trees[id(tree)] = tree
        while len(_parses) > _PARSES_KEPT:
            _, evicted = _parses.popitem(last=False)
            _plain_trees.pop(id(evicted), None)
            _clauses_of_parses.pop(id(evicted), None)
            _actions_of_parses.pop(id(evicted), None)
    return tree


def _shared_parse_clauses(tree: Node, clause_types: tuple[type, ...]) -> list[Any]:
    """moto's request handler lists the placeholders of every UpdateItem's expression (`find_clauses`, a walk
    of the whole tree, twice per request): for a shared parse the list is the same every time, kept with it
    (the same nodes, in a new list for each caller; dropped when the parse is)."""
    with _parses_lock:
        kept = _clauses_of_parses.get(id(tree))
        clauses = None if kept is None else kept.get(clause_types)
    if clauses is None:
        clauses = _original_find_clauses(tree, list(clause_types))
        with _parses_lock:
            if _plain_trees.get(id(tree)) is tree:  # still kept: an evicted parse's id may be reused
                _clauses_of_parses.setdefault(id(tree), {})[clause_types] = clauses
    return list(clauses)


def _is_plain_tree(node: Any, parent: Any) -> bool:
    """A tree whose copy needs no memo: each node is reached once, from its parent's children (its `parent`),
    and holds nothing else than immutable values, its children and its parent (what moto's parser builds)."""
    if not isinstance(node, Node) or node.parent is not parent or type(node.children) not in (list, type(None)):
        return False
    if any(name not in ("children", "parent") and type(value) not in _ATOMIC for name, value in vars(node).items()):
        return False
    return all(type(child) in _ATOMIC or _is_plain_tree(child, node) for child in node.children or ())


def _clone_tree(node: Any, parent: Any) -> Any:
    """What `copy.deepcopy` gives for a plain tree (`_is_plain_tree`): new nodes and children lists, the
    copied parent as `parent`, immutable values shared."""
    clone = object.__new__(type(node))
    state = dict(node.__dict__)
    state["parent"] = parent
    children = node.children
    if children is not None:
        state["children"] = [child if type(child) in _ATOMIC else _clone_tree(child, clone) for child in children]
    clone.__dict__ = state
    return clone


def _make(cls: type, expression: str) -> Any:
    """The parsed expression, parsed once per distinct text and shared: moto's request handler only lists
    its placeholders (`find_clauses` reads the tree) and the backend hands it to a validator, which copies
    it before working on it (`Validator.__init__`), so no caller changes it (a refused expression is not
    cached: it raises again, the same way, each time)."""
    return _parsed_update_expression(cls, expression)


_ATOMIC = frozenset({str, int, bool, float, type(None)})
_MISSING = object()


def _node_deepcopy(self: Node, memo: dict[int, Any]) -> Node:
    """What `copy.deepcopy` does for a node (a new instance, every attribute deep-copied, an object reached
    twice copied once through `memo`), without the generic `__reduce_ex__` round trip for each node and
    each children list; immutable values are shared, as deepcopy shares them."""
    if not memo and _plain_trees.get(id(self)) is self:  # the root of a shared parsed expression
        clone = memo[id(self)] = _clone_tree(self, None)
        return clone
    clone = object.__new__(type(self))
    memo[id(self)] = clone
    state = clone.__dict__
    for name, value in self.__dict__.items():
        state[name] = value if type(value) in _ATOMIC else _copied(value, memo)
    return clone


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    known = memo.get(id(value), _MISSING)
    if known is not _MISSING:
        return known
    kind = type(value)
    if kind is list:
        copied: list[Any] = []
        memo[id(value)] = copied
        copied.extend(member if type(member) in _ATOMIC else _copied(member, memo) for member in value)
        return copied
    is_node = _is_node.get(kind)
    if is_node is None:
        is_node = _is_node[kind] = isinstance(value, Node)
    return _node_deepcopy(value, memo) if is_node else copy.deepcopy(value, memo)


_is_node: dict[type, bool] = {}


_original_pre_processing_of_child = DepthFirstTraverser.pre_processing_of_child


def _traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
    """moto's depth-first traversal with the processor's (constant) node types read once per pass instead
    of being rebuilt at every node, and each isinstance answer (abc checks) computed once per class; the
    visiting order, the hooks and the processing are moto's. moto's `process` builds the processor's map
    (a dict of bound methods) for every node it processes to find the node's method, the first whose class
    the node is an instance of: that method is found once per class and pass."""
    plan = self.__dict__.get("_speedups_plan")
    if plan is None:
        hook = (None if type(self).pre_processing_of_child is _original_pre_processing_of_child
                else self.pre_processing_of_child)
        plan = self.__dict__["_speedups_plan"] = (self.nodes_to_be_processed(), hook, {})
    types, hook, processed = plan
    kind = type(node)
    is_node = _is_node.get(kind)
    if is_node is None:
        is_node = _is_node[kind] = isinstance(node, Node)
    if is_node:
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                if hook is not None:
                    hook(node, i)
                _traverse_node_recursively(self, child_node, i)
        method = processed.get(kind)
        if method is None:
            method = processed[kind] = _processing_method(self, node) if isinstance(node, types) else False
        if method:
            node = method(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
    return node


_original_process = DepthFirstTraverser.process


def _processing_method(traverser: Any, node: Any) -> Any:
    """What moto's `process` calls for `node`: the method of the first class of the map it is an instance of
    (the traverser's own `process`, should a subclass have one)."""
    if type(traverser).process is not _original_process:
        return traverser.process
    return next(method for kind, method in traverser._processing_map().items() if isinstance(node, kind))


# The nodes moto's parser puts above an expression's actions: one per clause, one per action.
_STRUCTURE = frozenset({"UpdateExpression"} | {f"UpdateExpression{clause}{suffix}" for clause in (
    "Set", "Remove", "Add", "Delete") for suffix in ("Clause", "Actions")})
_ACTION_TYPES = [UpdateExpressionSetAction, UpdateExpressionAddAction, UpdateExpressionRemoveAction,
                 UpdateExpressionDeleteAction]
_NAME_TYPES = (ExpressionAttribute, ExpressionAttributeName)
# What moto's UpdateExpressionValidator runs, each pass over the whole tree, in this order.
_VALIDATOR_PASSES = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator,
                     ExpressionAttributeValueProcessor, ExpressionAttributeResolvingProcessor,
                     UpdateExpressionFunctionEvaluator, NoneExistingPathChecker, ExecuteOperations,
                     TypeMismatchValidator, EmptyStringKeyValueValidator)
_original_validator_init = UpdateExpressionValidator.__init__
_original_validate = UpdateExpressionValidator.validate


def _is_name_path(node: Any) -> bool:
    return (type(node) is UpdateExpressionPath and len(node.children) == 1
            and type(node.children[0]) in _NAME_TYPES)


# How the fast path works an action through the validator's passes (`_flat_kind`): as the calls the passes make
_FLAT = "flat"  # `SET name = :value`, `REMOVE name`
_FUNCTION = "function"  # `SET name = if_not_exists(name, :value)`, `SET name = list_append(name, :value)`


def _flat_kind(action: Any) -> str | None:
    """`_FLAT` for `SET name = :value` or `REMOVE name` (a name: one attribute or #placeholder; a value: one
    :placeholder), `_FUNCTION` for `SET name = function(name, :value)` (if_not_exists, list_append); None for any
    other action."""
    kind, children = type(action), action.children
    if kind is UpdateExpressionRemoveAction:
        return _FLAT if len(children) == 1 and _is_name_path(children[0]) else None
    if kind is not UpdateExpressionSetAction or len(children) != 2:
        return None
    path, value = children
    if not (_is_name_path(path) and type(value) is UpdateExpressionValue and len(value.children) == 1):
        return None
    operand = value.children[0]
    if type(operand) is ExpressionAttributeValue:
        return _FLAT
    if (type(operand) is UpdateExpressionFunction and len(operand.children) == 3
            and type(operand.children[0]) is str and _is_name_path(operand.children[1])
            and type(operand.children[2]) is ExpressionAttributeValue):
        return _FUNCTION
    return None


def _structure_holds_only_actions(node: Any) -> bool:
    if type(node) in _ACTION_TYPES:
        return True
    return type(node).__name__ in _STRUCTURE and type(node.children) is list and all(
        map(_structure_holds_only_actions, node.children))


def _actions(tree: Any) -> list[tuple[Any, str | None]] | None:
    """The actions of a shared parse (`_make`), in the order moto's passes meet them, each with how the fast path
    works it (`_flat_kind`); None for a tree that is not a shared parse or holds more than clauses and actions.
    Worked out once per parse and kept with it."""
    with _parses_lock:
        if _plain_trees.get(id(tree)) is not tree:
            return None
        known = _actions_of_parses.get(id(tree), _MISSING)
    if known is not _MISSING:
        return known  # type: ignore[return-value]
    actions = None
    if _structure_holds_only_actions(tree):
        actions = [(action, _flat_kind(action)) for action in _original_find_clauses(tree, _ACTION_TYPES)]
    with _parses_lock:
        if _plain_trees.get(id(tree)) is tree:  # still kept: an evicted parse's id may be reused
            _actions_of_parses[id(tree)] = actions
    return actions


def _validator_init(self: UpdateExpressionValidator, expression: Any, expression_attribute_names: Any,
                    expression_attribute_values: Any, item: Any, table: Any) -> None:
    """moto's validator, which copies the whole expression first; for a shared parse (`_validate`) each action
    is copied when, and if, it is worked on."""
    actions = _actions(expression)
    if actions is None:
        _original_validator_init(self, expression, expression_attribute_names, expression_attribute_values, item,
                                 table)
        return
    self.expression_attribute_names = expression_attribute_names
    self.expression_attribute_values = expression_attribute_values
    self.item = item
    self.table = table
    self._speedups_actions = (expression, actions)  # type: ignore[attr-defined]


def _validate(self: UpdateExpressionValidator) -> Any:
    """moto's ten passes, each over the whole tree (a node per clause and per action above the actions, four to
    six in each: a 40-action SET is ~300 nodes, visited ten times, ~2 ms a request), action by action instead.

    Apart from the first two, which check the root (clause counts, overlapping paths: `_remembering_clauses`),
    every pass works on an action's own nodes only (its path, value, functions), and a pass over the tree meets
    the actions in order: so each pass runs over the actions in order, as moto's own pass (on a copy of the
    action) for most, and for a flat action (`_flat_kind`) as the calls that pass makes on it, made directly:
    the key check on its path, its value replaced by its typed value (ExpressionAttributeValueProcessor, then
    ExecuteOperations, which replaces a value of one operand by that operand), its name resolved (a path
    is resolved, not replaced, as an action's first child), the type and empty-key checks. In
    `SET name = function(name, :value)` (if_not_exists, list_append) the second path is key-checked too,
    resolved and replaced by what it resolves to (it is not an action's first child), and the function
    evaluated on it and the typed value (UpdateExpressionFunctionEvaluator), which answers a value or raises,
    never a missing path (NoneExistingPathChecker). The calls are moto's own methods, of the validator's own
    passes. What comes out is the tree moto's executor reads after `normalize()`: a root holding the validated actions
    in order (a flat action's path is the parse's own, which nothing changes). Should anything fail, moto's passes run
    on a copy of the whole tree, so the error is moto's, raised where moto raises it."""
    work = self.__dict__.pop("_speedups_actions", None)
    if work is None:
        return _original_validate(self)
    expression, actions = work
    try:
        return _validated_actions(self, expression, actions)
    except Exception:  # moto's own passes below raise the error moto raises
        pass
    _original_validator_init(self, expression, self.expression_attribute_names, self.expression_attribute_values,
                             self.item, self.table)
    return _original_validate(self)


def _validated_actions(validator: UpdateExpressionValidator, expression: Any,
                       actions: list[tuple[Any, str | None]]) -> Any:
    passes = {type(each): each for each in validator.get_ast_processors()}
    if tuple(passes) != _VALIDATOR_PASSES:  # a moto whose passes are not these: its own passes decide
        raise LookupError("unknown validator passes")
    passes[ActionCountValidator].verify_action_counts(expression)
    passes[OverlappingPathsValidator].check_for_overlapping_paths(expression)
    root = object.__new__(UpdateExpression)
    root.__dict__ = {"type": "UpdateExpression", "parent": None, "children": None}
    # each action as it goes through the passes: a flat one's value as it stands, or a copy of another action
    worked: list[Any] = [None if flat else _clone_tree(action, None) for action, flat in actions]
    first_arguments: dict[int, Any] = {}  # a function action's first argument, resolved

    def each_pass(kind: type, on_flat: Callable[[Any, str, int], None] | None) -> None:
        traverser = passes[kind]
        for i, (action, flat) in enumerate(actions):
            if not flat:
                worked[i] = traverser.traverse(worked[i])
            elif on_flat is not None:
                on_flat(action, flat, i)

    def key_checked(action: Any, flat: str, i: int) -> None:  # every path, in the order the pass meets them
        check = passes[UpdateHashRangeKeyValidator].check_for_hash_or_range_key
        check(action.children[0])
        if flat == _FUNCTION:
            check(action.children[1].children[0].children[1])

    def typed_value(action: Any, flat: str, i: int) -> None:
        if type(action) is UpdateExpressionSetAction:
            operand = action.children[1].children[0]
            worked[i] = passes[ExpressionAttributeValueProcessor].replace_expression_attribute_value_with_value(
                operand if flat == _FLAT else operand.children[2])

    def resolved(action: Any, flat: str, i: int) -> None:
        resolver = passes[ExpressionAttributeResolvingProcessor]
        resolver.resolving = False  # a path is an action's first child
        resolver.process_expression_path_node(action.children[0])
        if flat == _FUNCTION:  # a path in the value is replaced by what it resolves to
            resolver.resolving = True
            first_arguments[i] = resolver.process_expression_path_node(action.children[1].children[0].children[1])
            resolver.resolving = False

    def function_evaluated(action: Any, flat: str, i: int) -> None:
        if flat == _FUNCTION:
            function = UpdateExpressionFunction(children=[action.children[1].children[0].children[0],
                                                          first_arguments[i], worked[i]])
            worked[i] = passes[UpdateExpressionFunctionEvaluator].process_function(function)

    each_pass(UpdateHashRangeKeyValidator, key_checked)
    each_pass(ExpressionAttributeValueProcessor, typed_value)
    each_pass(ExpressionAttributeResolvingProcessor, resolved)
    each_pass(UpdateExpressionFunctionEvaluator, function_evaluated)
    each_pass(NoneExistingPathChecker, None)  # a function answers a value or raises, never a missing path
    each_pass(ExecuteOperations, None)
    for i, (action, flat) in enumerate(actions):  # a flat action as ExecuteOperations leaves it
        if flat:
            value = worked[i]
            clone = worked[i] = object.__new__(type(action))
            clone.__dict__ = {"type": action.type, "parent": root,
                              "children": [action.children[0]] if value is None else [action.children[0], value]}
            if value is not None:
                value.parent = clone

    def set_action_check(check: Callable[[Any], Any]) -> Callable[[Any, str, int], None]:
        return lambda action, flat, i: None if type(action) is not UpdateExpressionSetAction else check(worked[i])

    each_pass(TypeMismatchValidator, set_action_check(passes[TypeMismatchValidator].check_for_type_mismatch))
    each_pass(EmptyStringKeyValueValidator,
              set_action_check(passes[EmptyStringKeyValueValidator].check_for_empty_string_key_value))
    for validated in worked:
        validated.parent = root
    root.children = worked
    return root


def _dynamo_type_size(self: DynamoType) -> int:
    """`DynamoType.size` without re-wrapping every nested value in a new DynamoType: the same sum of the
    same parts (moto's 400 KB item-size check adds these up for every attribute on every SET)."""
    kind, value = self.type, self.value
    if kind == "N":
        return len(str(value))
    if kind in ("SS", "NS", "BS"):
        if kind == "NS":
            return sum(len(str(member)) for member in value)
        return sum(_dynamo_type_size(DynamoType({kind[0]: member})) for member in value)
    if kind == "L":
        return _members_size(value)
    if kind == "M":
        return sum(map(_bytesize, value)) + _members_size(value.values())
    if isinstance(value, bool):
        return 1
    return _bytesize(value)


def _members_size(members: Iterable[Any]) -> int:
    """The summed sizes of a list's or map's members, a number's or an ASCII string's in the loop: a list of
    20,000 numbers (a run's parameter) is sized on every SET of its item, 2x faster than a call a member."""
    total = 0
    for member in members:
        if type(member) is not DynamoType:
            total += DynamoType(member).size()
            continue
        kind, value = member.type, member.value
        if kind == "N":
            total += len(str(value))
        elif kind == "S" and type(value) is str and value.isascii():
            total += len(value)
        else:
            total += _dynamo_type_size(member)
    return total


_SETS = frozenset({"SS", "NS", "BS"})


def _dynamo_type_deepcopy(self: DynamoType, memo: dict[int, Any]) -> DynamoType:
    """moto's `DynamoType.__deepcopy__` (a new value of the same type; lists and maps copied member by
    member through `memo`, sets as new lists, scalars shared), recursing into nested DynamoTypes directly
    instead of through `copy.deepcopy`'s dispatch for each one (moto copies whole items on every UpdateItem
    and every Query result)."""
    known = memo.get(id(self))
    if known is not None:
        return known  # type: ignore[no-any-return]
    result = self.__class__.__new__(self.__class__)
    memo[id(self)] = result
    kind, value = self.type, self.value
    result.type = kind
    if kind == "L":
        result.value = [_dynamo_type_deepcopy(member, memo) if type(member) is DynamoType
                        else copy.deepcopy(member, memo) for member in value]
    elif kind == "M":
        result.value = {name: _dynamo_type_deepcopy(member, memo) if type(member) is DynamoType
                        else copy.deepcopy(member, memo) for name, member in value.items()}
    elif kind in _SETS:
        result.value = list(value)
    else:
        result.value = value
    return result


def _bytesize(value: Any) -> int:
    """moto's `bytesize` (UTF-8 length); an ASCII string's is its length, without encoding it."""
    return len(value) if type(value) is str and value.isascii() else bytesize(value)


_ITEM_LIMIT = 405000  # moto's limit, between DynamoDB's documented 400 KB and the measured 410 KB


_SCALARS = frozenset({"S", "N", "B", "BOOL", "NULL"})


def _limited_size_setitem(self: LimitedSizeDict, key: str, value: Any) -> None:
    """moto's 400 KB check on every attribute set, with the same sum of the same parts (each attribute's
    name and value, then the new pair), without building the lists it sums. moto re-sums the whole item on
    every SET of an UpdateItem (quadratic in the attributes); a scalar attribute's part is remembered with
    the value it was computed for, and used again while that same value is stored (a scalar DynamoType is
    never changed in place; lists, maps and sets can be, and are sized each time)."""
    parts: dict[Any, tuple[Any, int]] | None = self.__dict__.get("_speedups_parts")
    if parts is None:
        parts = self.__dict__["_speedups_parts"] = {}
    current = 0
    for name, item in dict.items(self):
        known = parts.get(name)
        if known is not None and known[0] is item:
            current += known[1]
            continue
        part = _bytesize(str(name)) + (item.size() if type(item) is DynamoType else _bytesize(str(item)))
        if type(item) is DynamoType and item.type in _SCALARS:
            parts[name] = (item, part)
        current += part
    new = _bytesize(key) + (value.size() if type(value) is DynamoType else _bytesize(str(value)))
    if current + new > _ITEM_LIMIT:
        raise ItemSizeTooLarge
    dict.__setitem__(self, key, value)


def _item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """moto's Item: each attribute wrapped and set in order, refused at the first one that takes the item
    past the limit. moto re-sums every attribute set so far on each set (quadratic in the attributes); the
    running total is the same sum at each step, so the same attribute is refused (a new item: nothing of
    it is kept either way)."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        wrapped = DynamoType(value)
        total += _bytesize(key) + wrapped.size()
        if total > _ITEM_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, wrapped)


# ------------------------------------------------------------------ DynamoDB values and tables
_original_dynamo_type_init = DynamoType.__init__


def _dynamo_type_init(self: DynamoType, type_as_dict: Any) -> None:
    """moto's DynamoType (every attribute of every item written, read or compared, and each member of its lists and
    maps): its type and value are read from a one-key dict by building two lists, and its list and map tests are
    method calls. A DynamoType's or a one-key dict's type and value are read directly, a list's and a map's members
    wrapped as moto wraps them; anything else (a dict of more keys, a subclass of dict) is moto's."""
    kind = type(type_as_dict)
    if kind is DynamoType:
        value_type, value = type_as_dict.type, type_as_dict.value
    elif kind is dict and len(type_as_dict) == 1:
        ((value_type, value),) = type_as_dict.items()
    else:
        _original_dynamo_type_init(self, type_as_dict)
        return
    self.type = value_type
    if value_type == "L":
        value = [DynamoType(member) for member in value]
    elif value_type == "M":
        value = {name: DynamoType(member) for name, member in value.items()}
    self.value = value


def _table_attribute_keys(self: Table) -> list[str]:
    """moto's list of a table's key attributes and every index's (read several times by each UpdateItem, GetItem and
    write), in moto's order, without its copy-module dispatch, its helper per index and the list of all indexes."""
    names = list(self.table_key_attrs)
    for indexes in (self.indexes, self.global_indexes):
        for index in indexes:
            names += [attribute["AttributeName"] for attribute in index.schema]
    return names


# ------------------------------------------------------------------ every request
_original_method_names_from_class = moto_core_utils.method_names_from_class
# class -> its action method names, while `speedups()` is active (a stack: blocks may nest)
_method_names: list[dict[type, list[str]]] = []


def _method_names_from_class(clazz: Any) -> list[str]:
    """moto's list of a response class's methods (`inspect.getmembers` over the class and its bases, ~100
    members, on every request to find the action's method), listed once per class and block."""
    if not _method_names:
        return _original_method_names_from_class(clazz)  # type: ignore[no-any-return]
    names = _method_names[-1].get(clazz)
    if names is None:
        names = _method_names[-1][clazz] = _original_method_names_from_class(clazz)
    return list(names)


def _choices(pool: str, length: int) -> str:
    """`length` of moto's `mock_random.choice(pool)` draws: the same characters, the source left in the same state
    (seeded or not). `Random.choice` takes `_randbelow(len(pool))`: `getrandbits(bits)`, the top bits of one 32-bit
    output of the generator, redrawn while out of range. `getrandbits(32 * n)` is n such outputs, the first in
    the lowest word, so the draws are made n at a time, n never more than the characters still missing (no output
    is drawn that moto would not draw). 185 draws a receipt handle, 52 a request id: moto's method layers around
    each were half of a ReceiveMessage's time. For a pool of one-byte characters (every pool moto draws from)
    the top bits are those of each output's top byte, which a table turns into the character, dropping a byte
    out of range (`_byte_draws`), all in C."""
    getrandbits = mock_random.getrandbits
    table = _byte_draws.get(pool)
    if table is None:
        table = _byte_draws[pool] = _byte_draw_table(pool)
    if table is not _NO_TABLE:
        characters, out_of_range = table
        drawn = b""
        while len(drawn) < length:
            missing = length - len(drawn)
            top_bytes = getrandbits(32 * missing).to_bytes(4 * missing, "little")[3::4]
            drawn += top_bytes.translate(characters, out_of_range)
        return drawn.decode("ascii")
    size = len(pool)
    shift = 32 - size.bit_length()
    picked: list[str] = []
    while len(picked) < length:
        missing = length - len(picked)
        words = struct.unpack(f"<{missing}I", getrandbits(32 * missing).to_bytes(4 * missing, "little"))
        picked.extend(pool[index] for index in (word >> shift for word in words) if index < size)
    return "".join(picked)


_NO_TABLE: Any = ()
_byte_draws: dict[str, Any] = {}  # pool -> its `_byte_draw_table`


def _byte_draw_table(pool: str) -> Any:
    """For a pool of ASCII characters no larger than 255 (whose draws are an output's top bits: at most 8 of them,
    all in its top byte): `bytes.translate`'s table from a top byte to the pool's character it draws, and the top
    bytes whose draw is out of range (redrawn). `_NO_TABLE` for any other pool."""
    size = len(pool)
    if not (0 < size < 256 and pool.isascii()):
        return _NO_TABLE
    byte_shift = 8 - size.bit_length()
    characters = bytes(ord(pool[top >> byte_shift]) if top >> byte_shift < size else 0 for top in range(256))
    out_of_range = bytes(top for top in range(256) if top >> byte_shift >= size)
    return characters, out_of_range


# moto's own draws can be taken this way only while its random source is moto's Random, whose `_randbelow` is
# the getrandbits one (a subclass overriding `random` alone would draw otherwise)
_CHOICES_ARE_MOTO_S = (type(mock_random)._randbelow  # type: ignore[attr-defined]
                       is random.Random._randbelow_with_getrandbits)  # type: ignore[attr-defined]
_REQUEST_ID_POOL = string.ascii_letters + string.digits  # moto's get_random_string pool


def _gen_amzn_requestid_long(headerdict: dict[str, Any] | None = None) -> str:
    """moto's request id (`mock_random.get_random_string(length=52)`, set as the x-amzn-requestid header)."""
    request_id = _choices(_REQUEST_ID_POOL, 52)
    if headerdict is not None and isinstance(headerdict, dict):
        headerdict.update({"x-amzn-requestid": request_id})
    return request_id


def _generate_receipt_handle() -> str:
    """moto's receipt handle: 185 of `mock_random.choice(string.ascii_lowercase)`."""
    return _choices(string.ascii_lowercase, 185)


_original_enrich_response: Any = moto_core_responses.BaseResponse._enrich_response


def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """moto's `BaseResponse._enrich_response`: the status header as text, a request id drawn and set in the
    headers, and written into the body's `<RequestId>` element. A text body without that tag is what moto's
    substitution (which looks behind for it) returns unchanged, so the search is skipped; anything else is moto's."""
    if type(body) is not str or "<RequestId>" in body:
        return _original_enrich_response(headers, body)  # type: ignore[no-any-return]
    if "status" in headers:
        headers["status"] = str(headers["status"])
    moto_core_responses.gen_amzn_requestid_long(headers)
    return headers, body


# ------------------------------------------------------------------ moto's clock
_original_unix_time = moto_core_utils.unix_time
_original_unix_time_millis = moto_core_utils.unix_time_millis
_EPOCH = moto_core_utils.utcfromtimestamp(0)


def _unix_time(dt: Any = None) -> float:
    """moto's `unix_time`: the same arithmetic from the same epoch, which moto builds anew at every call (every
    SQS message's visibility check and every EventBridge entry asks the time: 1 % of the cohort's samples)."""
    dt = dt or moto_core_utils.utcnow()
    delta = dt - _EPOCH
    return (delta.days * 86400) + (delta.seconds + (delta.microseconds / 1e6))  # type: ignore[no-any-return]


def _unix_time_millis(dt: Any = None) -> float:
    return _unix_time(dt) * 1000.0


_original_utcnow = moto_core_utils.utcnow


def _utcnow() -> datetime.datetime:
    """moto's `utcnow` (the time now in UTC, naive), less the import of `datetime.UTC` moto makes at every call
    (half its time; every request's Date header and every SQS or IAM time stamp asks it). `datetime.datetime` is
    looked up at each call, as moto does, so a test that replaces it is followed. The real class's aware time is
    made naive by combining its date and its time (which drop the zone): ~4x faster than `replace`'s keywords; any
    other class's is moto's `replace`."""
    now = datetime.datetime.now(datetime.UTC)
    if type(now) is _REAL_DATETIME:
        return _REAL_DATETIME.combine(now.date(), now.time())
    return now.replace(tzinfo=None)


_REAL_DATETIME = datetime.datetime


_CLOCK: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "unix_time": (_original_unix_time, _unix_time),
    "unix_time_millis": (_original_unix_time_millis, _unix_time_millis)}
if moto_core_utils.PYTHON_311:  # moto's utcnow reads the clock otherwise before Python 3.11
    _CLOCK["utcnow"] = (_original_utcnow, _utcnow)


# The loaded moto modules, as of the number of modules loaded then: every `speedups()` looks for moto's clock in
# them, and walking the several thousand entries of sys.modules each time was 0.6 % of a `make test` run (py-spy)
_moto_modules: tuple[int, list[types.ModuleType]] = (0, [])


def _clock_users() -> list[tuple[types.ModuleType, str, Callable[..., Any]]]:
    """Where the loaded moto modules hold moto's clock functions, imported by name, with the fast function for
    each. moto.core.utils keeps its own: a module imported inside a block then takes moto's, not a patch that
    would outlive the block. The moto modules are listed again whenever a module was loaded since (or unloaded);
    one missed would keep moto's own functions, which compute the same."""
    global _moto_modules
    if _moto_modules[0] != len(sys.modules):
        _moto_modules = (len(sys.modules), [module for module_name, module in list(sys.modules.items())
                                            if module_name.startswith("moto.") and module is not moto_core_utils])
    return [(module, name, fast) for module in _moto_modules[1]
            for name, (original, fast) in _CLOCK.items() if getattr(module, name, None) is original]


# ------------------------------------------------------------------ SQS receive and delete
_original_mark_received = Message.mark_received
_original_delete_message = Queue.delete_message
# receipt handle -> the message it was drawn for, while `speedups()` is active (a stack: blocks may nest)
_received: list[dict[str, Message]] = []


def _mark_received(self: Message, visibility_timeout: int | None = None) -> None:
    _original_mark_received(self, visibility_timeout)
    if _received:
        _received[-1][self.receipt_handle] = self  # type: ignore[index]


def _delete_message(self: Queue, receipt_handle: str) -> None:
    """moto's delete: drop the message that had this receipt handle (handles are drawn at random, one per
    receive), found by its handle instead of by asking every message of the queue for its handles twice.
    Anything else (an unknown handle, a message no longer in this queue) goes to moto's own path."""
    if receipt_handle in self.deleted_messages:
        return
    message = _received[-1].get(receipt_handle) if _received else None
    if message is None or not message.had_receipt_handle(receipt_handle) \
            or not any(m is message for m in self._messages):
        _original_delete_message(self, receipt_handle)
        return
    self.pending_messages.discard(message)
    self.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
    self._messages = [m for m in self._messages if m is not message]


_original_delete_message_batch = SQSBackend.delete_message_batch


def _delete_message_batch(self: SQSBackend, queue_name: str,
                          receipts: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, str]]]:
    """moto's DeleteMessageBatch deletes entry by entry, each rebuilding the queue's message list (a pass over
    the whole queue per entry: at 1,000 samples the recorder's queue holds thousands). When every entry is a
    handle drawn for a distinct message still in this queue (the sandbox's deletes), the fast path drops them
    as `_delete_message` does, with one pass over the list; any other batch is moto's, as it came."""
    if not receipts or not _received:
        return _original_delete_message_batch(self, queue_name, receipts)
    queue = self.get_queue(queue_name)
    found: dict[Message, str] = {}  # the entries' messages, in the entries' order (moto's answer's)
    for entry in receipts:
        handle = entry["ReceiptHandle"]
        message = _received[-1].get(handle)
        if handle in queue.deleted_messages or message is None or message in found \
                or not message.had_receipt_handle(handle):
            return _original_delete_message_batch(self, queue_name, receipts)
        found[message] = entry["Id"]
    kept = [m for m in queue._messages if m not in found]
    if len(kept) + len(found) != len(queue._messages):  # not all of them in this queue (moved to its DLQ)
        return _original_delete_message_batch(self, queue_name, receipts)
    for message in found:
        queue.pending_messages.discard(message)
        queue.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]
    queue._messages = kept
    return list(found.values()), []


# ------------------------------------------------------------------ responses: member lookup
_original_get_value = ResponseSerializer.get_value
_DEFAULT_PROVIDERS = tuple(DEFAULT_ALIAS_PROVIDERS)
# (picker class, shape, its parent, member name) -> (shape, parent, the names moto tries in order): shapes come
# from moto's cached service models; the entry keeps both alive, so their ids are not reused while it is here
_member_names: dict[tuple[type, int, int, str], tuple[Any, Any, tuple[str, ...]]] = {}


def _serializer_get_value(self: ResponseSerializer, value: Any, key: str, shape: Any) -> Any:
    """moto's response serializer finds each member of a result by asking its picker for every name the
    member may go by (six alias providers built per member, each looking at the shape, its parent and the
    result's class) and taking the first the result has. For a plain dict result the names depend only on
    the member, its shape and that shape's parent (a dict has no `Meta` and its class is always `dict`), so
    they are listed once; the lookup in that order, and the response transformers, are moto's."""
    picker = self._value_picker
    if type(value) is not dict or type(picker) not in (AttributePicker, XFormedAttributePicker) \
            or tuple(picker.alias_providers) != _DEFAULT_PROVIDERS:
        return _original_get_value(self, value, key, shape)
    parent = getattr(shape, "parent", None)
    memo = (type(picker), id(shape), id(parent), key)
    entry = _member_names.get(memo)
    if entry is None or entry[0] is not shape or entry[1] is not parent:
        context = AttributePickerContext(obj={}, key=key, shape=shape)
        entry = _member_names[memo] = (shape, parent, tuple(picker.get_possible_keys(context)))
    names = entry[2]
    for name in names:
        if "." in name:  # a path: moto walks it
            return _original_get_value(self, value, key, shape)
    found = None
    for name in names:
        if name in value:
            found = value[name]
            break
    if picker.response_transformers:
        key_path = f"{'.'.join(self.path)}.{key}"
        for transform_path, transform in picker.response_transformers.items():
            if key_path.endswith(transform_path):
                return transform(found)
    return found


# ------------------------------------------------------------------ client side: creating a client
_original_trie_copy = _PrefixTrie.__copy__
_TRIE_NODE_KEYS = {"chunk", "values", "children"}


class _NotBotocoresNode(Exception):
    """A node of a handler trie not laid out as botocore lays its nodes out: copied by botocore."""


def _copied_trie_node(node: dict[str, Any]) -> dict[str, Any]:
    """A node as botocore's `_PrefixTrie._recursive_copy` copies it: the node, its children and its handler lists
    copied, the handlers not."""
    if node.keys() != _TRIE_NODE_KEYS:
        raise _NotBotocoresNode
    values, children = node["values"], node["children"]
    if values is not None:
        if type(values) is not NodeList or not type(values.first) is type(values.middle) is type(values.last) is list:
            raise _NotBotocoresNode
        values = NodeList(values.first.copy(), values.middle.copy(), values.last.copy())
    if type(children) is not dict:
        raise _NotBotocoresNode
    return {"chunk": node["chunk"], "values": values,
            "children": {chunk: _copied_trie_node(child) for chunk, child in children.items()}}


def _copy_trie(self: _PrefixTrie) -> _PrefixTrie:
    """`_PrefixTrie.__copy__`: every client copies its session's handlers (~200 nodes), through botocore's generic
    copy of each node's values (isinstance tests, `copy.copy`'s dispatch for each list); nodes laid out as botocore
    lays them out are copied directly (half the time), once per state of the trie in a block (a snapshot no one
    changes), and each copy shares the snapshot's nodes until it changes one (`_SharingTrie`); any other trie is
    copied by botocore."""
    if self.__dict__.keys() != {"_root"}:
        return _original_trie_copy(self)
    snapshots = _trie_snapshots[-1] if _trie_snapshots else {}
    entry = snapshots.get(id(self))
    changes = _trie_changes.get(id(self), 0)
    if entry is None or entry[1] != changes:
        try:
            entry = snapshots[id(self)] = (self, changes, _copied_trie_node(self._root))
        except _NotBotocoresNode:
            return _original_trie_copy(self)
    if type(self) is not _PrefixTrie:  # a subclass of botocore's: a copy of its own of the snapshot
        new = self.__class__()
        new._root = _copied_trie_node(entry[2])
        return new
    return _SharingTrie(entry[2])


def _node_to_change(node: dict[str, Any]) -> dict[str, Any]:
    """A node of a shared trie as its copy to change: its children dict and handler lists copied."""
    values = node["values"]
    if values is not None:
        values = NodeList(values.first.copy(), values.middle.copy(), values.last.copy())
    return {"chunk": node["chunk"], "values": values, "children": dict(node["children"])}


class _SharingTrie(_PrefixTrie):
    """A copy of a handler trie (a client's) sharing its nodes with the snapshot it was copied from (and the other
    copies of it): before a handler is registered or removed, the nodes on its key's path are copied (the node, its
    children dict and handler lists), so the change is this trie's alone, as in botocore's full copy."""

    def __init__(self, root: dict[str, Any] | None = None) -> None:
        super().__init__()
        if root is not None:
            self._root = root
        self._own: set[int] = set()  # ids of the nodes this trie copied for itself: changed in place

    def _own_path(self, key: str) -> None:
        own = self._own
        node = self._root
        if id(node) not in own:
            node = self._root = _node_to_change(node)
            own.add(id(node))
        for part in key.split("."):
            child = node["children"].get(part)
            if child is None:
                return  # botocore makes the rest of the path anew
            if id(child) not in own:
                child = node["children"][part] = _node_to_change(child)
                own.add(id(child))
            node = child

    def append_item(self, key: str, value: Any, section: Any = botocore_hooks._MIDDLE) -> None:
        self._own_path(key)
        super().append_item(key, value, section)

    def remove_item(self, key: str, value: Any) -> None:
        self._own_path(key)
        super().remove_item(key, value)

    def __copy__(self) -> _PrefixTrie:
        self._own.clear()  # every node is now shared with the copy too
        return _SharingTrie(self._root)


_original_trie_append = _PrefixTrie.append_item
_original_trie_remove = _PrefixTrie.remove_item
# per speedups() block: id of a trie -> (the trie, its latest change then, the snapshot of its nodes); and the latest
# change (a handler registered or removed: a number never drawn before) of every trie changed in the block, by id
_trie_snapshots: list[dict[int, tuple[_PrefixTrie, int, dict[str, Any]]]] = []
_trie_changes: dict[int, int] = {}
_change_numbers = itertools.count(1)


def _trie_append_item(self: _PrefixTrie, key: str, value: Any, section: Any = botocore_hooks._MIDDLE) -> None:
    """botocore's, numbered: a snapshot of the trie taken before is stale."""
    _trie_changes[id(self)] = next(_change_numbers)
    _original_trie_append(self, key, value, section)


def _trie_remove_item(self: _PrefixTrie, key: str, value: Any) -> None:
    """botocore's, numbered: a snapshot of the trie taken before is stale."""
    _trie_changes[id(self)] = next(_change_numbers)
    _original_trie_remove(self, key, value)


_original_load_service_model = ClientCreator._load_service_model
_service_models: dict[str, ServiceModel] = {}  # service name -> the model built over its loaded description


def _load_service_model(self: ClientCreator, service_name: str, api_version: str | None = None) -> ServiceModel:
    """botocore builds a new ServiceModel over the loader's description (the same dict: the loader caches it) for
    every client, and with it every operation model and shape again, at the client's creation (a method per
    operation) and at its first calls; the models only read the description and cache what they derive from it,
    so the clients of one description share one (the latest description of each service is kept)."""
    description = self._loader.load_service_model(service_name, "service-2", api_version=api_version)
    model = _service_models.get(service_name)
    if model is None or model._service_description is not description:
        model = _service_models[service_name] = _original_load_service_model(self, service_name, api_version)
    return model


# (id of the ruleset, id of the partitions, excluded parameters) -> (ruleset, partitions, provider built of them):
# the entry holds the ruleset and the partitions, so their ids name them for as long as it is kept
_endpoint_providers: dict[tuple[int, int, frozenset[str]], tuple[Any, Any, EndpointProvider]] = {}


def _endpoint_provider(ruleset_data: Any, partition_data: Any, excluded_params: Any = None) -> EndpointProvider:
    """botocore's EndpointProvider, which every client builds from its service's endpoint ruleset (the loader's
    dict): a provider is a pure function of the ruleset, the partitions and the excluded parameters, and caches
    its answers (botocore's resolution cache is one for all providers, keyed by provider), so the clients of one
    ruleset share one, and a new client's first call resolves its endpoint from that cache."""
    key = (id(ruleset_data), id(partition_data), frozenset(excluded_params or ()))
    entry = _endpoint_providers.get(key)
    if entry is None:
        if len(_endpoint_providers) > 64:  # rulesets of loaders no longer used (each session may load its own)
            _endpoint_providers.clear()
        entry = _endpoint_providers[key] = (ruleset_data, partition_data,
                                            EndpointProvider(ruleset_data, partition_data, excluded_params))
    return entry[2]


_original_create_methods = ClientCreator._create_methods
# per speedups() block: (id of a loaded service description, id of the creator's event emitter) -> (the description,
# the emitter, the methods botocore made for them); the entry keeps both alive, so their ids name them while it is kept
_client_methods: list[dict[tuple[int, int], tuple[Any, Any, dict[str, Any]]]] = []


def _create_methods(self: ClientCreator, service_model: ServiceModel) -> dict[str, Any]:
    """botocore makes every client's class anew, with a new method per operation of its service (a closure and its
    lazy docstring, ~90 % of the class's cost); the methods depend only on the service's description (the loader's
    dict, which the model reads) and the emitter the docstrings read, and nothing changes them, so one set is made
    per block for each, and every class gets a fresh dict of them (the `creating-client-class` handlers still see,
    and may change, a dict of their own)."""
    if not _client_methods:
        return _original_create_methods(self, service_model)  # type: ignore[no-any-return]
    made = _client_methods[-1]
    description = service_model._service_description
    key = (id(description), id(self._event_emitter))
    entry = made.get(key)
    if entry is None:
        entry = made[key] = (description, self._event_emitter, _original_create_methods(self, service_model))
    return dict(entry[2])


_original_get_environ_proxies = botocore_utils.get_environ_proxies
# (endpoint URL, the environment's *_proxy variables, whether it has REQUEST_METHOD) -> the proxies botocore found
_environ_proxies: dict[tuple[str, tuple[tuple[bytes, bytes], ...], bool], dict[str, str]] = {}


def _get_environ_proxies(url: Any) -> dict[str, str]:
    """botocore's proxies for a new client's endpoint: urllib reads (and decodes) every environment variable three
    times to find the `*_proxy` ones (the bypass check, then the proxies); on a platform whose proxies come from
    the environment alone, the answer depends only on the URL and those variables (and on REQUEST_METHOD being set,
    which drops an http proxy), so it is remembered for them, read from the environment's raw entries each time."""
    raw = getattr(os.environ, "_data", None)
    if (type(url) is not str or type(raw) is not dict
            or botocore_utils.getproxies is not urllib_request.getproxies_environment
            or botocore_utils.proxy_bypass is not getattr(urllib_request, "proxy_bypass_environment", None)):
        return _original_get_environ_proxies(url)  # type: ignore[no-any-return]
    variables = tuple((name, value) for name, value in raw.items() if name[-6:].lower() == b"_proxy")
    key = (url, variables, b"REQUEST_METHOD" in raw)
    proxies: dict[str, str] = _remembered(_environ_proxies, key, lambda: _original_get_environ_proxies(url), limit=256)
    return dict(proxies)  # the caller's own, as botocore's answer is


class _PoolsOnDemandSession(botocore_httpsession.URLLib3Session):
    """botocore's HTTP session, whose connection pool manager is made when first used rather than with the session:
    its SSL context (OpenSSL's SSL_CTX_new, ~1.4 M instructions) was a quarter of a new client's cost, and under
    moto no request reaches it. Made at first use, it is the manager botocore makes (same arguments, same context)."""

    _making_pools = True  # once the session is built: every manager made as botocore makes it

    def __init__(self, **kwargs: Any) -> None:
        self._making_pools = False
        super().__init__(**kwargs)
        del self._making_pools, self._manager  # the placeholder botocore's __init__ made (no SSL context)

    def _get_pool_manager_kwargs(self, **extra_kwargs: Any) -> dict[str, Any]:
        if not self._making_pools:
            return {}
        return super()._get_pool_manager_kwargs(**extra_kwargs)  # type: ignore[no-any-return]

    @functools.cached_property
    def _manager(self) -> Any:
        manager = botocore_httpsession.PoolManager(**self._get_pool_manager_kwargs())
        manager.pool_classes_by_scheme = self._pool_classes_by_scheme
        return manager


_original_create_endpoint = EndpointCreator.create_endpoint


def _create_endpoint(self: EndpointCreator, *args: Any, http_session_cls: Any = botocore_httpsession.URLLib3Session,
                     **kwargs: Any) -> Any:
    """botocore's endpoint, with an HTTP session that makes its connection pools when first used when it would have
    been botocore's own session class."""
    if len(args) > 7:  # the session class given by position (botocore names it)
        return _original_create_endpoint(self, *args, **kwargs)
    if http_session_cls is botocore_httpsession.URLLib3Session:
        http_session_cls = _PoolsOnDemandSession
    return _original_create_endpoint(self, *args, http_session_cls=http_session_cls, **kwargs)


# ------------------------------------------------------------------ client side: event name aliases
_original_aliaser_init = EventAliaser.__init__
_aliased_names: dict[str, str] = {}  # event name -> its name under botocore's own EVENT_ALIASES


def _aliaser_init(self: EventAliaser, event_emitter: Any, event_aliases: Any = None) -> None:
    """botocore's EventAliaser; with botocore's own aliases, its cache of aliased event names is the process's."""
    _original_aliaser_init(self, event_emitter, event_aliases)
    if self._event_aliases == EVENT_ALIASES:
        self._alias_name_cache = _aliased_names


_original_accepts_kwargs = botocore_hooks.accepts_kwargs
# function -> the name of its **kwargs parameter, or None; weak: a handler made per session (Powertools makes
# one) is not kept alive by having been registered once
_kwargs_names: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()


def _accepts_kwargs(func: Any) -> str | None:
    """botocore's check that an event handler takes **kwargs, remembered per function (of a bound method too:
    binding does not change the parameters a function declares)."""
    kind = type(func)
    if kind is not types.FunctionType and kind is not types.MethodType:
        return _original_accepts_kwargs(func)  # type: ignore[no-any-return]
    function = func.__func__ if kind is types.MethodType else func
    try:
        return _kwargs_names[function]
    except KeyError:
        name = _kwargs_names[function] = _original_accepts_kwargs(func)
        return name


# ------------------------------------------------------------------ client side: SigV4 signing
_original_signature = SigV4Auth.signature
_original_sign = SigV4Auth._sign
# (secret key, date, region, service) -> the SigV4 signing key derived from them (four HMACs)
_signing_keys: dict[tuple[str, str, str, str], bytes] = {}


def _signature(self: SigV4Auth, string_to_sign: str, request: Any) -> str:
    """botocore's SigV4 signature: the signing key is four HMACs of the secret key, the request's date, the
    region and the service, the same for every request of a day; it is derived once per day and kept (the
    signature, an HMAC of the request's string to sign with that key, is computed for each request)."""
    if type(self)._sign is not _original_sign:
        return _original_signature(self, string_to_sign, request)  # type: ignore[no-any-return]
    scope = (self.credentials.secret_key, request.context["timestamp"][0:8], self._region_name, self._service_name)
    key = _signing_keys.get(scope)
    if key is None:
        if len(_signing_keys) > 64:
            _signing_keys.clear()
        secret, date, region, service = scope
        key = self._sign(self._sign(self._sign(self._sign(f"AWS4{secret}".encode(), date), region), service),
                         "aws4_request")
        _signing_keys[scope] = key
    return self._sign(key, string_to_sign, hex=True)  # type: ignore[no-any-return]


# What the Authorization header carries in place of a signature not computed (see _add_auth): 64 hex digits, as a
# SigV4 signature has, that no request signed by botocore can carry by chance
UNCOMPUTED_SIGNATURE = "0" * 64
_original_add_auth = SigV4Auth.add_auth
# Not the query (presigning) or POST signers: what they sign leaves the process
_HEADER_SIGNERS = (SigV4Auth, S3SigV4Auth)


def _add_auth(self: SigV4Auth, request: Any) -> None:
    """botocore's SigV4 `add_auth` less the signature: the canonical request, the string to sign and its HMAC
    (most of signing's cost, ~0.1-0.2 ms a request) are not computed while moto checks no signature. moto verifies
    signatures only once INITIAL_NO_AUTH_ACTION_COUNT requests were answered (IAM authorization), which is infinite
    unless a test sets it; then botocore signs in full. Every header botocore sets is set as it sets it (the dates,
    the session token, S3's payload hash, Authorization with its credential scope and signed headers): moto reads
    the access key, and from it the account, from those."""
    if type(self) not in _HEADER_SIGNERS or not math.isinf(moto_settings.INITIAL_NO_AUTH_ACTION_COUNT):
        return _original_add_auth(self, request)  # type: ignore[no-any-return]
    if self.credentials is None:
        raise NoCredentialsError()
    request.context["timestamp"] = botocore_auth.get_current_datetime().strftime(botocore_auth.SIGV4_TIMESTAMP)
    self._modify_request_before_signing(request)
    # botocore's `_inject_signature_to_request`, the signed headers' names remembered
    request.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
                                        f"SignedHeaders={_signed_headers(self, request)}, "
                                        f"Signature={UNCOMPUTED_SIGNATURE}")
    return None


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _remembered(memo: dict[_Key, _Value], key: _Key, make: Callable[[], _Value], limit: int = 4096) -> _Value:
    """`memo[key]`, made by `make()` the first time. The memo is emptied once it holds more than `limit` answers:
    some keys are made per request (S3 object URLs, metadata headers, computed signatures)."""
    try:
        return memo[key]
    except KeyError:
        if len(memo) > limit:
            memo.clear()
        value = memo[key] = make()
        return value


# the names of a request's headers, in order -> the SignedHeaders botocore lists for them
_signed_header_names: dict[tuple[str, ...], str] = {}


def _signed_headers(signer: SigV4Auth, request: Any) -> str:
    """The SignedHeaders of the Authorization header: botocore copies the request's headers but the unsigned ones,
    lowercased, into a new message (adding the URL's host if none is there) to list their names sorted; the list
    depends only on the names, so it is made once per list of names. The URL is still read (remembered per URL):
    botocore's signing refuses a malformed one."""
    botocore_auth._host_from_url(request.url)
    return _remembered(_signed_header_names, tuple(request.headers.keys()),
                       lambda: signer.signed_headers(signer.headers_to_sign(request)), limit=1024)


# botocore's host header for a URL (lowercase, without the default port or user info): a pure function of
# the URL, computed twice per signed request
_host_from_url = functools.lru_cache(maxsize=1024)(botocore_auth._host_from_url)


def _request_body(self: AWSRequest) -> Any:
    """`AWSRequest.body` (the signer hashes it): botocore prepares the whole request (its URL, a copy of its
    headers, its body) to read the prepared body; only the body is prepared here, by the same preparer."""
    body = self._request_preparer._prepare_body(self)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return body


# ------------------------------------------------------------------ client side: endpoint parameters
_original_provider_params = EndpointRulesetResolver._get_provider_params
# the parameters whose value botocore records as a user-agent feature (`_register_endpoint_feature_ids`)
_FEATURE_PARAMS = frozenset({"AccountIdEndpointMode", "AccountId"})


class _ParamSources(NamedTuple):
    """Where botocore looks a ruleset parameter's value up for one operation, in its order: the operation's static
    value, the call's member, the operation's JMESPath over the call, the client's context, the builtin."""
    name: str
    static: Any
    member: str | None
    path: Any
    client_name: str | None
    builtin: str | None


def _param_sources(resolver: EndpointRulesetResolver, operation_model: Any) -> list[_ParamSources] | None:
    """The sources of each of the ruleset's parameters for an operation; None if one names a builtin botocore does
    not know (botocore raises its error at each call)."""
    known_builtins = set(EndpointResolverBuiltins.__members__.values())
    definitions = resolver._param_definitions
    if any(definition.builtin is not None and definition.builtin not in known_builtins
           for definition in definitions.values()):
        return None
    static = resolver._get_static_context_params(operation_model)
    dynamic = resolver._get_dynamic_context_params(operation_model)
    client = resolver._get_client_context_params()
    operation = operation_model.operation_context_parameters
    return [_ParamSources(name, static.get(name), dynamic.get(name),
                          jmespath.compile(operation[name]["path"]) if name in operation else None,
                          client.get(name), definition.builtin)
            for name, definition in definitions.items()]


# resolver -> operation model -> its parameters' sources (None: botocore's); weak: clients come and go
_resolver_param_sources: weakref.WeakKeyDictionary[Any, dict[Any, list[_ParamSources] | None]] = \
    weakref.WeakKeyDictionary()


def _get_provider_params(self: EndpointRulesetResolver, operation_model: Any, call_args: Any,
                         request_context: Any) -> dict[str, Any]:
    """botocore's endpoint parameters for a call: for each of the ruleset's (~10) parameters it asks four
    sources in turn, each through methods and caches keyed by the operation, and checks the builtin's name; where
    each parameter's value comes from depends only on the operation (static values, member names, JMESPath
    expressions, client context names: the models'), so that is worked out once per operation and the values
    are read from the call, the client's context and the builtins (after the `before-endpoint-resolution`
    handlers, as botocore) in botocore's order. A resolver of another class, or a ruleset naming a builtin botocore
    does not know, is botocore's."""
    if type(self) is not EndpointRulesetResolver:
        return _original_provider_params(self, operation_model, call_args, request_context)  # type: ignore[no-any-return]
    try:
        plans = _resolver_param_sources[self]
    except KeyError:
        plans = _resolver_param_sources[self] = {}
    try:
        sources = plans[operation_model]
    except KeyError:
        sources = plans[operation_model] = _param_sources(self, operation_model)
    if sources is None:
        return _original_provider_params(self, operation_model, call_args, request_context)  # type: ignore[no-any-return]
    builtins = self._get_customized_builtins(operation_model, call_args, request_context)
    client_context = self._client_context
    provider_params = {}
    for name, value, member, path, client_name, builtin in sources:
        if value is None and member is not None:
            value = call_args.get(member)
        if value is None and path is not None:
            value = path.search(call_args)
        if value is None and client_name is not None:
            value = client_context.get(client_name)
        if value is None and builtin is not None:
            value = builtins.get(builtin)
            if callable(value):
                value = value()
        if value is not None:
            provider_params[name] = value
            if name in _FEATURE_PARAMS:
                self._register_endpoint_feature_ids(name, value)
    return provider_params


# ------------------------------------------------------------------ client side: header dicts
# header name -> its case-insensitive key (botocore makes a new `_HeaderKey`, lowercasing the name, at every read
# and write of a header: ~40 per call, for the request, the signer and the response)
_header_keys: dict[str, _HeaderKey] = {}


def _header_key(name: Any) -> _HeaderKey:
    """The key botocore's HeadersDict files a header under: `_HeaderKey(name)`, one kept per name. A key only
    hashes and compares by its lowercase name and gives its name back, and nothing changes it, so dicts share it."""
    if type(name) is not str:
        return _HeaderKey(name)
    key = _header_keys.get(name)  # inline, not `_remembered`: ~40 reads a call, where a closure each costs as much
    if key is None:
        if len(_header_keys) > 4096:  # names made per request (metadata headers)
            _header_keys.clear()
        key = _header_keys[name] = _HeaderKey(name)
    return key


def _headers_init(self: HeadersDict, *args: Any, **kwargs: Any) -> None:
    """`HeadersDict(pairs)` (every prepared request, every response): botocore's generic `MutableMapping.update`;
    a list of pairs (what `HTTPHeaders.items()` gives) is filed directly, anything else is botocore's update."""
    self._dict = {}
    if len(args) == 1 and not kwargs and type(args[0]) is list:
        entries = self._dict
        for name, value in args[0]:
            entries[_header_key(name)] = value
    else:
        self.update(*args, **kwargs)


def _headers_setitem(self: HeadersDict, name: Any, value: Any) -> None:
    self._dict[_header_key(name)] = value


def _headers_getitem(self: HeadersDict, name: Any) -> Any:
    return self._dict[_header_key(name)]


def _headers_delitem(self: HeadersDict, name: Any) -> None:
    del self._dict[_header_key(name)]


def _headers_contains(self: HeadersDict, name: Any) -> bool:
    """`MutableMapping.__contains__` reads the item and catches the KeyError of a missing one (botocore asks for
    absent headers at every request: Transfer-Encoding, Content-Length, ...); the key is looked up directly."""
    if type(self).__getitem__ is not _headers_getitem:  # a subclass reading items its own way
        return Mapping.__contains__(self, name)
    return _header_key(name) in self._dict


def _headers_get(self: HeadersDict, name: Any, default: Any = None) -> Any:
    if type(self).__getitem__ is not _headers_getitem:
        return Mapping.get(self, name, default)
    return self._dict.get(_header_key(name), default)


_original_message_items = HTTPHeaders.items
_original_message_get = HTTPHeaders.get


def _fetched(policy: Any, name: str, value: Any) -> Any:
    """A header's value as the compat32 policy gives it back: itself unless it is text holding surrogates (then a
    Header object), which ASCII text cannot hold, so that is answered without the policy's three calls."""
    if type(value) is str and value.isascii():
        return value
    return policy.header_fetch_parse(name, value)


def _message_items(self: HTTPHeaders) -> list[tuple[str, Any]]:
    """A request's headers (`HTTPHeaders`, an email message; listed three times per request), each value through
    `_fetched`; a message of another policy is the email package's."""
    policy = self.policy
    if policy is not email_compat32:
        return _original_message_items(self)  # type: ignore[no-any-return]
    return [(name, _fetched(policy, name, value)) for name, value in self._headers]


def _message_get(self: HTTPHeaders, name: str, failobj: Any = None) -> Any:
    policy = self.policy
    if policy is not email_compat32:
        return _original_message_get(self, name, failobj)
    name = name.lower()
    for field, value in self._headers:
        if field.lower() == name:
            return _fetched(policy, field, value)
    return failobj


# ------------------------------------------------------------------ client side: retry checks
def _any_retryable(self: OrRetryChecker, context: Any) -> bool:
    """botocore's standard and adaptive retries ask every response its checkers (five, one of them two more) through
    `any()` over a generator; the same checks, in the same order, stopping at the first that says yes."""
    for checker in self._checkers:  # noqa: SIM110 (the generator any() asks is what this saves)
        if checker.is_retryable(context):
            return True
    return False


# ------------------------------------------------------------------ client side: invocation ids
_original_uuid4 = uuid.uuid4


def _uuid4_text() -> str:
    """`str(uuid.uuid4())`: 16 bytes of `os.urandom` with the version and variant bits set, in hex, hyphenated; without
    the UUID object (its constructor checks every argument it could have been given)."""
    value = int.from_bytes(os.urandom(16), "big")
    value = (value & ~(0xc000 << 48) | 0x8000 << 48) & ~(0xf000 << 64) | 4 << 76
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class _EndpointUuid:
    """botocore.endpoint's `uuid` module, which it asks for a new request's invocation id (`str(uuid.uuid4())`, every
    call): the id's text is drawn directly (a str's str() is itself). Anything else, and `uuid4` itself once a test
    replaced it, is the module's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(uuid, name)

    @staticmethod
    def uuid4() -> Any:
        if uuid.uuid4 is not _original_uuid4:
            return uuid.uuid4()
        return _uuid4_text()


# ------------------------------------------------------------------ client side: the environment's reads
class _EnvironReads:
    """`os.environ` as botocore's handlers read it (`in`, `get`; the recursion-detection handler asks for two Lambda
    variables before every call): `os._Environ` looks a missing name up by catching a KeyError (Mapping's `in` and
    `get`); the same encoded name is looked up in its data directly. Anything else, or an `os.environ` a test
    replaced with another mapping, is read as it is."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os.environ, name)

    def __getitem__(self, name: str) -> Any:
        return os.environ[name]

    def __contains__(self, name: Any) -> bool:
        environ = os.environ
        if type(environ) is not os._Environ:
            return name in environ
        return environ.encodekey(name) in environ._data  # type: ignore[attr-defined]

    def get(self, name: Any, default: Any = None) -> Any:
        environ = os.environ
        if type(environ) is not os._Environ:
            return environ.get(name, default)
        value = environ._data.get(environ.encodekey(name))  # type: ignore[attr-defined]
        return default if value is None else environ.decodevalue(value)  # type: ignore[attr-defined]


class _HandlersOs:
    """botocore.handlers' `os` module: its `environ` read through `_EnvironReads`, anything else the module's."""

    environ = _EnvironReads()

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


# ------------------------------------------------------------------ client side: DynamoDB AttributeValues
_AV_MEMBERS = {"S": "string", "N": "string", "B": "blob", "SS": "list", "NS": "list", "BS": "list", "M": "map",
               "L": "list", "NULL": "boolean", "BOOL": "boolean"}
_CONSTRAINTS = {"required", "min", "document", "union"}  # what botocore's validator checks beyond types
# shape -> whether it is DynamoDB's AttributeValue as this module reads it; weak: botocore builds new shapes for
# every client's service model, and a shape's verdict goes with it
_attribute_value_shapes: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _unconstrained(shape: Any) -> bool:
    return not (_CONSTRAINTS & set(shape.metadata)) and not shape.serialization


def _is_attribute_value(shape: Any) -> bool:
    """Whether a botocore shape is DynamoDB's AttributeValue: a plain structure (no union, document or
    constraint) of exactly its ten members, unrenamed, of their types, maps and lists of AttributeValues,
    sets of unconstrained strings. Checked once per shape object."""
    known = _attribute_value_shapes.get(shape)
    if known is not None:
        return known
    verdict = False
    if shape.type_name == "structure" and shape.name == "AttributeValue" and not shape.is_document_type \
            and not shape.is_tagged_union and _unconstrained(shape):
        members = shape.members
        if {name: member.type_name for name, member in members.items()} == _AV_MEMBERS \
                and list(members) == list(_AV_MEMBERS):
            verdict = (all(_unconstrained(member) for member in members.values())
                       and members["M"].value.name == "AttributeValue" and members["L"].member.name == "AttributeValue"
                       and members["M"].key.type_name == "string" and _unconstrained(members["M"].key)
                       and all(members[s].member.type_name == "string" and _unconstrained(members[s].member)
                               for s in ("SS", "NS")))
    _attribute_value_shapes[shape] = verdict
    return verdict


def _is_wire_attribute_value(value: Any) -> bool:
    """Whether a value is an AttributeValue in wire form that `_wire_attribute_value` copies (every type but
    binary, plain str, bool, list and dict values; map keys non-empty strings: moto misplaces an empty one)."""
    if type(value) is not dict or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind in ("S", "N"):
        return type(inner) is str
    if kind == "M":
        return type(inner) is dict and all(type(name) is str and name and _is_wire_attribute_value(member)
                                           for name, member in inner.items())
    if kind == "L":
        return type(inner) is list and all(_is_wire_attribute_value(member) for member in inner)
    if kind in ("BOOL", "NULL"):
        return type(inner) is bool
    if kind in ("SS", "NS"):
        return type(inner) is list and all(type(member) is str for member in inner)
    return False


_original_validate_structure = ParamValidator._validate_structure


def _validate_structure(self: ParamValidator, params: Any, shape: Any, errors: Any, name: str) -> None:
    """botocore's parameter validation reports nothing for an AttributeValue in wire form (one known member
    of its type, none constrained): it is accepted without walking it; anything else is botocore's walk."""
    if _is_wire_attribute_value(params) and _is_attribute_value(shape):
        return
    _original_validate_structure(self, params, shape, errors, name)


_original_validate_map = ParamValidator._validate_map


def _validate_map(self: ParamValidator, params: Any, shape: Any, errors: Any, name: str) -> None:
    """botocore validates a map key by key (a string key of an unconstrained shape: its type alone) and value by
    value, naming each in an f-string first; for a map of AttributeValues a pair of a str key and a wire-form
    value reports nothing (`_validate_structure` above), so it is passed over. Any other pair is botocore's."""
    key_shape, value_shape = shape.key, shape.value
    if not (type(params) is dict and key_shape.type_name == "string" and _unconstrained(key_shape)
            and not key_shape.enum and _is_attribute_value(value_shape)):
        _original_validate_map(self, params, shape, errors, name)
        return
    for key, value in params.items():
        if type(key) is str and _is_wire_attribute_value(value):
            continue
        self._validate(key, key_shape, errors, f"{name} (key: {key})")
        self._validate(value, value_shape, errors, f"{name}.{key}")


_original_request_map = botocore_serialize.JSONSerializer._serialize_type_map


def _serialize_request_map(self: Any, serialized: Any, value: Any, shape: Any, key: Any) -> None:
    """botocore's JSON request serializer writes a map value by value through `_serialize`; for a map of
    AttributeValues each wire-form value is its copy (`_serialize_request_structure` below), made directly."""
    value_shape = shape.value
    if not (self.MAP_TYPE is dict and type(value) is dict and _is_attribute_value(value_shape)):
        _original_request_map(self, serialized, value, shape, key)
        return
    map_obj: Any = self.MAP_TYPE()
    serialized[key] = map_obj
    for sub_key, sub_value in value.items():
        if sub_key is not None and _is_wire_attribute_value(sub_value):
            map_obj[sub_key] = _wire_attribute_value(sub_value)
        else:
            self._serialize(map_obj, sub_value, value_shape, sub_key)


_original_request_structure = botocore_serialize.JSONSerializer._serialize_type_structure


def _kept_on_shape(shape: Any, attribute: str, owner: type, build: Callable[[], _Value]) -> _Value:
    """`build()`, made once per `owner` (a serializer or parser class) and kept on the botocore shape under
    `attribute`, as botocore keeps its cached properties (see `_VALIDITY_CHECK`): it goes with the shape."""
    per_owner = shape.__dict__.get(attribute)
    if per_owner is None:
        per_owner = shape.__dict__[attribute] = {}
    plan = per_owner.get(owner)
    if plan is None:
        plan = per_owner[owner] = build()
    return plan  # type: ignore[no-any-return]


def _request_members(serializer_class: type, shape: Any) -> dict[str, tuple[str, Any, bool]]:
    """How botocore's JSON serializer writes each member of a structure: under its serialized name, through the
    method `_serialize` dispatches its type to, `_default_serialize` (the value as it is: strings, numbers but
    floats, booleans) for a type the class has no method for."""
    return _kept_on_shape(shape, "_speedups_request_members", serializer_class, lambda: {
        name: (member.serialization.get("name", name), member,
               not hasattr(serializer_class, f"_serialize_type_{member.type_name}"))
        for name, member in shape.members.items()})


def _serialize_request_structure(self: Any, serialized: Any, value: Any, shape: Any, key: Any) -> None:
    """botocore's JSON request serializer copies an AttributeValue in wire form member by member through the
    model (strings and booleans as they are, maps and lists recursively): the copy is built directly. Any other
    structure's members are written as botocore writes them (`_request_members`), a value written as it is
    without `_serialize`'s lookup of its method by name; a serializer of its own dispatch is botocore's."""
    if key is not None and self.MAP_TYPE is dict and _is_wire_attribute_value(value) and _is_attribute_value(shape):
        serialized[key] = _wire_attribute_value(value)
        return
    serializer_class = type(self)
    if shape.is_document_type or not (
            serializer_class._serialize is botocore_serialize.JSONSerializer._serialize
            and serializer_class._default_serialize is botocore_serialize.JSONSerializer._default_serialize):
        _original_request_structure(self, serialized, value, shape, key)
        return
    if key is not None:  # a member: its own dict
        wrapper = self.MAP_TYPE()
        serialized[key] = wrapper
        serialized = wrapper
    plans = _request_members(serializer_class, shape)
    for member_key, member_value in value.items():
        written_as, member_shape, as_is = plans[member_key]
        if as_is:
            serialized[written_as] = member_value
        else:
            self._serialize(serialized, member_value, member_shape, written_as)


_original_response_structure = botocore_parsers.BaseJSONParser._handle_structure


def _response_members(parser_class: type, shape: Any) -> list[tuple[str, str, Any, bool]]:
    """How botocore's JSON parser reads each member of a structure: its name, the JSON name it is read under, its
    shape, and whether the class keeps its value as it is (no `_handle_<type>` method: its default handler)."""
    return _kept_on_shape(shape, "_speedups_response_members", parser_class, lambda: [
        (name, member.serialization.get("name", name), member, not hasattr(parser_class, f"_handle_{member.type_name}"))
        for name, member in shape.members.items()])


def _parse_response_structure(self: Any, shape: Any, value: Any) -> Any:
    """botocore's JSON response parser reads an AttributeValue in wire form member by member through the
    model (strings and booleans as they are, maps and lists recursively): it parses to a copy of itself,
    built directly. Binary (base64-decoded) and anything else is botocore's parse. Any other structure (a dict, not
    a document or a tagged union) is read as botocore reads it (`_response_members`), a value kept as it is without
    `_parse_shape`'s lookup of its handler by name; a parser of its own dispatch is botocore's."""
    parser_class = type(self)
    if parser_class is botocore_parsers.JSONParser and _is_wire_attribute_value(value) and _is_attribute_value(shape):
        return _wire_attribute_value(value)
    if type(value) is not dict or shape.is_document_type or shape.is_tagged_union or not (
            parser_class._parse_shape is botocore_parsers.ResponseParser._parse_shape
            and parser_class._default_handle is botocore_parsers.ResponseParser._default_handle):
        return _original_response_structure(self, shape, value)
    parsed = {}
    for name, json_name, member_shape, as_is in _response_members(parser_class, shape):
        raw_value = value.get(json_name)
        if raw_value is not None:
            parsed[name] = raw_value if as_is else self._parse_shape(member_shape, raw_value)
    return parsed


_original_response_map = botocore_parsers.BaseJSONParser._handle_map


def _parse_response_map(self: Any, shape: Any, value: Any) -> Any:
    """botocore's JSON response parser reads a map key by key (a string key parses to itself) and value by value;
    for a map of AttributeValues (an item) each value in wire form parses to its copy (`_parse_response_structure`
    above): the copies are made directly. Binary and anything else is botocore's parse of that value."""
    value_shape = shape.value
    if not (type(self) is botocore_parsers.JSONParser and type(value) is dict and shape.key.type_name == "string"
            and _is_attribute_value(value_shape)):
        return _original_response_map(self, shape, value)
    return _wire_copies(value, lambda member: self._parse_shape(value_shape, member))


# ------------------------------------------------------------------ client side: parameter validation per shape
_original_param_validate = ParamValidator.validate
_SCRATCH_VALIDATOR = ParamValidator()  # botocore's walk of a subtree the plans leave to it (stateless)
# the attribute a botocore shape keeps its validity check in, as it keeps its cached properties (the check goes with the
# shape: botocore builds new shapes for every client's service model without `_load_service_model`'s sharing)
_VALIDITY_CHECK = "_speedups_validity_check"


def _range_floor(shape: Any) -> Any:
    """The minimum botocore's `range_check` holds a value (or a length) to: the shape's `min`, or 1 for a member bound
    to the host; None for no minimum."""
    if "min" in shape.metadata:
        return shape.metadata["min"]
    return 1 if shape.serialization.get("hostLabel") else None


def _scalar_check(shape: Any, valid_types: tuple[type, ...],
                  measure: Callable[[Any], Any] | None) -> Callable[[Any], bool]:
    floor = _range_floor(shape) if measure is not None else None
    if measure is None or floor is None:
        return lambda value: isinstance(value, valid_types)
    return lambda value: isinstance(value, valid_types) and not measure(value) < floor


def _validity_check(shape: Any) -> Callable[[Any], bool]:
    """A function telling whether botocore's ParamValidator reports nothing for a value of this shape: the checks
    botocore makes at each level (types, required and unknown members, tagged unions, minimums), planned once per
    shape. It answers no where botocore would report an error, and leaves to botocore's own walk the shapes it
    does not plan (JSON-value headers, documents), so a value it accepts is one botocore accepts."""
    check = shape.__dict__.get(_VALIDITY_CHECK)
    if check is None:
        check = shape.__dict__[_VALIDITY_CHECK] = _planned_check(shape)
    return check  # type: ignore[no-any-return]


def _botocore_check(shape: Any) -> Callable[[Any], bool]:
    shape_ref = weakref.ref(shape)  # the check is kept on the shape: no cycle

    def check(value: Any) -> bool:
        errors = ValidationErrors()
        _SCRATCH_VALIDATOR._validate(value, shape_ref(), errors, "")
        return not errors.has_errors()
    return check


def _planned_check(shape: Any) -> Callable[[Any], bool]:
    scalars = ParamValidator.SCALAR_TYPES
    type_name = shape.type_name
    if botocore_utils.is_json_value_header(shape) or (type_name == "structure" and shape.is_document_type):
        return _botocore_check(shape)
    if type_name == "string":
        return _scalar_check(shape, scalars["string"], len)
    if type_name in ("integer", "long", "double", "float"):
        return _scalar_check(shape, scalars[type_name], lambda value: value)
    if type_name == "boolean":
        return _scalar_check(shape, scalars["boolean"], None)
    if type_name == "blob":
        return lambda value: isinstance(value, (bytes, bytearray, str)) or hasattr(value, "read")
    if type_name == "timestamp":
        return _SCRATCH_VALIDATOR._type_check_datetime  # type: ignore[no-any-return]
    if type_name == "list":
        return _list_check(shape)
    if type_name == "map":
        return _map_check(shape)
    if type_name == "structure":
        return _structure_check(shape)
    return _botocore_check(shape)  # a type botocore's validator may not know: its error is its own


def _list_check(shape: Any) -> Callable[[Any], bool]:
    valid_types, floor, member_shape = ParamValidator.CONTAINER_TYPES["list"], _range_floor(shape), shape.member
    member_check: Callable[[Any], bool] | None = None  # planned at the first call: shapes nest themselves

    def check(value: Any) -> bool:
        nonlocal member_check
        if not isinstance(value, valid_types) or (floor is not None and len(value) < floor):
            return False
        if member_check is None:
            member_check = _list_member_check(member_shape)
        return all(member_check(member) for member in value)
    return check


def _list_member_check(member_shape: Any) -> Callable[[Any], bool]:
    if member_shape.type_name in ParamValidator.SCALAR_TYPES \
            and not _SCRATCH_VALIDATOR._shape_has_constraints(member_shape):  # botocore checks their type alone
        member_types = ParamValidator.SCALAR_TYPES[member_shape.type_name]
        return lambda member: isinstance(member, member_types)
    return _validity_check(member_shape)


def _map_check(shape: Any) -> Callable[[Any], bool]:
    valid_types, key_shape, value_shape = ParamValidator.CONTAINER_TYPES["map"], shape.key, shape.value
    checks: tuple[Callable[[Any], bool], Callable[[Any], bool]] | None = None  # planned at the first call

    def check(value: Any) -> bool:
        nonlocal checks
        if not isinstance(value, valid_types):
            return False
        if checks is None:
            checks = (_validity_check(key_shape), _validity_check(value_shape))
        key_check, value_check = checks
        return all(key_check(key) and value_check(member) for key, member in value.items())
    return check


def _structure_check(shape: Any) -> Callable[[Any], bool]:
    valid_types, union = ParamValidator.CONTAINER_TYPES["structure"], shape.is_tagged_union
    required = tuple(shape.metadata.get("required", ()))
    members = shape.members
    member_checks: dict[str, Callable[[Any], bool]] = {}  # each planned at its first value: shapes nest themselves
    attribute_value = _is_attribute_value(shape)

    def check(value: Any) -> bool:
        if attribute_value and _is_wire_attribute_value(value):
            return True
        if not isinstance(value, valid_types) or (union and len(value) != 1):
            return False
        for name in required:
            if name not in value:
                return False
        for name, member in value.items():
            member_check = member_checks.get(name)
            if member_check is None:
                if name not in members:
                    return False
                member_check = member_checks[name] = _validity_check(members[name])
            if not member_check(member):
                return False
        return True
    return check


def _validate_params(self: ParamValidator, params: Any, shape: Any) -> ValidationErrors:
    """botocore's parameter validation (every call) walks the input member by member through `_validate`, which
    looks each shape's special cases and method up, and names every member in an f-string; a call that passes
    every check is answered with an empty report after the per-shape checks above; any other (an error to
    report) is validated by botocore, whose report it is."""
    if type(self) is ParamValidator and _validity_check(shape)(params):
        return ValidationErrors()
    return _original_param_validate(self, params, shape)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ client side: emitting events
_original_emit = HierarchicalEmitter._emit
_original_hierarchical_emit = HierarchicalEmitter.emit


def _emit(self: HierarchicalEmitter, event_name: str, kwargs: dict[str, Any], stop_on_response: bool = False) -> Any:
    """botocore's `_emit` (~10 events and ~26 handlers a call): the same handlers in the same order, the same
    responses; botocore's debug line before each handler is written as botocore writes it, asked once per event
    (a call of `logger.debug` per handler, which checks the level each time, when the level logs nothing)."""
    handlers_to_call = self._lookup_cache.get(event_name)
    if handlers_to_call is None:
        handlers_to_call = self._handlers.prefix_search(event_name)
        self._lookup_cache[event_name] = handlers_to_call
    elif not handlers_to_call:
        return []
    kwargs["event_name"] = event_name
    responses = []
    debug = botocore_hooks.logger.isEnabledFor(logging.DEBUG)
    for handler in handlers_to_call:
        if debug:
            botocore_hooks.logger.debug("Event %s: calling handler %s", event_name, handler)
        response = handler(**kwargs)
        responses.append((handler, response))
        if stop_on_response and response is not None:
            return responses
    return responses


def _aliaser_emit(self: EventAliaser, event_name: str, **kwargs: Any) -> Any:
    """`EventAliaser.emit`: the aliased name (cached per name, see `_aliaser_init`) handed to botocore's emitter's
    `_emit` directly, without its `emit` packing the arguments again; an emitter of another `emit` is called."""
    aliased = self._alias_name_cache.get(event_name)
    if aliased is None:
        aliased = self._alias_event_name(event_name)
    emitter = self._emitter
    if type(emitter).emit is not _original_hierarchical_emit:
        return emitter.emit(aliased, **kwargs)
    return emitter._emit(aliased, kwargs)


# ------------------------------------------------------------------ client side: the user agent
_original_user_agent = UserAgentString.to_string
# the features joined as botocore joins them -> their component's text (`m/...`, sanitized and truncated to 1 KB)
_feature_texts: dict[str, str] = {}


def _user_agent(self: UserAgentString) -> str:
    """botocore's User-Agent (built twice per call): the request-independent parts cached by botocore, then the
    features of the client and the call's context joined in botocore's order, whose component text (each character
    sanitized, then truncated) is a function of the joined text, remembered. A customized build (botocore's
    `modify_components`, a subclass) is botocore's."""
    if type(self) is not UserAgentString or botocore_useragent.modify_components \
            is not botocore_useragent._default_modify_components:
        return _original_user_agent(self)  # type: ignore[no-any-return]
    static_parts = self._get_static_parts()
    if static_parts.legacy is not None:
        return static_parts.legacy  # type: ignore[no-any-return]
    ctx = botocore_useragent.get_context()
    features = (self._client_features or set()).union(set() if ctx is None else ctx.features)
    if not features:
        parts: tuple[str, ...] = (static_parts.prefix, static_parts.suffix)
    else:
        joined = ",".join(features)
        text = _remembered(_feature_texts, joined, lambda: botocore_useragent.UserAgentComponent(
            "m", joined, size_config=botocore_useragent.UserAgentComponentSizeConfig(1024, ",")).to_string(), limit=256)
        parts = (static_parts.prefix, text, static_parts.suffix)
    return " ".join(part for part in parts if part)


# ------------------------------------------------------------------ every request: routing
_original_process_request = BotocoreStubber.process_request
# URL without its query -> (service, backend, handler) moto routes it to, while `speedups()` is active (a stack)
_routes: list[dict[str, tuple[str, Any, Any]]] = []


def _service_backend(service: str) -> Any:
    """The backend moto's stubber hands a service's requests to (the default account's). The account's backends
    are looked up once (moto looks twice: the second lookup finds what the first one made)."""
    backend_dict = _backend_dict(service)
    if isinstance(backend_dict, BackendDict):
        account_backends = backend_dict[moto_core.DEFAULT_ACCOUNT_ID]
        return account_backends["us-east-1" if "us-east-1" in account_backends else "aws"]
    return backend_dict["global"]


def _backend_dict(service: str) -> Any:
    """moto's `get_backend(service)`: the `<name>_backends` of the service's module, which moto imports for every
    request (`importlib.import_module`); a module already loaded (and not being loaded by another thread) is
    read from `sys.modules`, as the import finds it; any other goes to moto's import."""
    safe_name = service.replace("-", "")
    module = sys.modules.get("moto." + moto_backends.ALT_SERVICE_NAMES.get(safe_name, safe_name))
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return moto_backends.get_backend(service)  # type: ignore[call-overload]
    return getattr(module, f"{moto_backends.ALT_BACKEND_NAMES.get(safe_name, safe_name)}_backends")


def _process_request(self: BotocoreStubber, request: Any) -> Any:
    """moto's stubber matches every request's URL against each service's pattern in turn (~180 regular
    expressions), then rebuilds the backend's URL table to match it against each entry. Both lists are
    fixed, so the service and handler a URL goes to (or that no service's pattern matches it, as for the
    HealthOmics emulator's requests: moto answers them 404, the emulator's hook answered them first) are found
    once; every request still passes moto's passthrough and allow-list checks and reaches the backend moto
    would pick (a backend replaced by a reset is routed afresh). A URL whose first matching service has no
    handler for it, or is passed through, goes to moto's own path."""
    if not _routes:
        return _original_process_request(self, request)
    parsed_url, _ = get_equivalent_url_in_aws_domain(request.url)
    clean_url = f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}"
    routes = _routes[-1]
    route = routes.get(clean_url) or _learn_route(routes, clean_url)
    if route is None:
        return _original_process_request(self, request)
    if passthrough_url(clean_url):
        return None
    if route is _NO_SERVICE:
        return (404, {}, "Not yet implemented") if _AMAZONAWS_URL.match(clean_url) else None
    service, known_backend, handler = route
    if passthrough_service(service):
        return None
    if not service_whitelisted(service):
        raise ServiceNotWhitelisted(service)
    if _service_backend(service) is not known_backend:
        del routes[clean_url]
        return _original_process_request(self, request)
    from moto.core.exceptions import HTTPException
    from moto.moto_api import recorder

    normalized_request = normalize_request(request)
    try:
        recorder._record_request(normalized_request)
        status, headers, body = handler(normalized_request, normalized_request.raw_url, normalized_request.headers)
    except HTTPException as e:
        status = e.code
        headers = e.get_headers()
        body = e.get_body()
    return status, headers, body


_NO_SERVICE: tuple[str, Any, Any] = ("", None, None)  # no service's pattern matches the URL
_AMAZONAWS_URL = re.compile(r"https?://.+\.amazonaws.com/.*")  # what moto answers 404 when no service matches


def _learn_route(routes: dict[str, tuple[str, Any, Any]], clean_url: str) -> tuple[str, Any, Any] | None:
    """The service and handler moto's loop picks for a URL, or `_NO_SERVICE`, remembered; None (nothing
    learnt, moto routes it) when the first service whose pattern matches is passed through, not allowed, or
    has no handler for the URL."""
    if passthrough_url(clean_url):
        return None
    if len(routes) > 4096:  # object URLs of S3, run URLs of HealthOmics are many
        routes.clear()
    for service, pattern in backend_index.backend_url_patterns:
        if pattern.match(clean_url):
            if passthrough_service(service) or not service_whitelisted(service):
                return None
            backend = _service_backend(service)
            for url, handler in _url_table(backend):
                if url.match(clean_url):
                    route = routes[clean_url] = (service, backend, handler)
                    return route
            return None
    routes[clean_url] = _NO_SERVICE
    return _NO_SERVICE


# ------------------------------------------------------------------ every request: the WSGI request
_original_from_primitives = MotoRequest.from_primitives.__func__  # type: ignore[attr-defined]
# (method, scheme://host, path, query) -> the part of werkzeug's environ that depends only on them, while
# `speedups()` is active (a stack: blocks may nest)
_url_environs: list[dict[tuple[str, str, str, str], dict[str, Any]]] = []


_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")  # EnvironBuilder encodes their form


def _from_primitives(cls: type, method: str, url: str, headers: Any, body: Any = None) -> Any:
    """moto's request (a werkzeug Request over the environ werkzeug's EnvironBuilder builds). The builder's
    environ is the URL's part (method, script name, path, query, raw URI, server name and port, host, protocol
    and WSGI keys: what werkzeug builds for that method and URL, built by werkzeug once per URL), the body's
    stream and its length (none without a body: the builder drops a Content-Length header), the Content-Type,
    and every other header as HTTP_<NAME> (repeated ones joined by ", "), in the builder's order; the rest is
    moto's `from_primitives`. A streamed body, headers werkzeug refuses, or no body with a form's content type
    (the builder encodes an empty form) go to moto's path."""
    if not _url_environs or not (body is None or type(body) in (bytes, str)):
        return _original_from_primitives(cls, method, url, headers, body)
    header_items = [(key, value.decode("utf-8") if isinstance(value, bytes) else value)
                    for key, value in _header_pairs(headers) if key.lower() not in ["transfer-encoding"]]
    if not all(type(key) is str and type(value) is str and "\n" not in value and "\r" not in value
               for key, value in header_items):
        return _original_from_primitives(cls, method, url, headers, body)
    data = body.encode() if isinstance(body, str) else body or b""
    content_type = next((value for name, value in header_items if name.lower() == "content-type"), None)
    if not data and content_type is not None and content_type.partition(";")[0].strip() in _FORM_TYPES:
        return _original_from_primitives(cls, method, url, headers, body)
    parsed_url = urlparse(url)
    base_url = f"{parsed_url.scheme}://{parsed_url.netloc}"
    url_environs = _url_environs[-1]
    key = (method, base_url, parsed_url.path, parsed_url.query)
    template = url_environs.get(key)
    if template is None:
        try:
            template = EnvironBuilder(method=method, base_url=base_url, path=parsed_url.path,
                                      query_string=parsed_url.query).get_environ()
        except Exception:  # werkzeug refuses this URL: moto's path raises what it raises
            return _original_from_primitives(cls, method, url, headers, body)
        if len(url_environs) > 4096:
            url_environs.clear()
        url_environs[key] = template
    environ = dict(template)
    environ["wsgi.input"] = BytesIO(data)
    environ["wsgi.errors"] = sys.stderr
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if data:
        environ["CONTENT_LENGTH"] = str(len(data))
    combined: dict[str, list[str]] = {}
    for name, value in header_items:
        if name.lower() not in ("content-type", "content-length"):
            combined.setdefault(f"HTTP_{name.upper().replace('-', '_')}", []).append(value)
    for name, values in combined.items():
        environ[name] = ", ".join(values)
    request = cls(environ)
    request.environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = {
        environ_key_for_header(name): name for name, _ in header_items if should_preserve_original_header_name(name)}
    request.environ.setdefault("CONTENT_LENGTH", "0")
    return request


# ------------------------------------------------------------------ client side: response timestamps
# (text, the process's time zone names) -> the datetime botocore parsed it to: dateutil's parser, which botocore
# uses for ISO 8601 and RFC 822 text, costs ~100 us per value, and HealthOmics answers repeat the same times
# (ListRuns on every sweep, the virtual clock's steps); datetimes are immutable, so one serves every repeat
_timestamps: dict[tuple[str, tuple[str, ...]], Any] = {}
_original_parse_timestamp = botocore_utils.parse_timestamp


def _parse_timestamp(value: Any) -> Any:
    """botocore's `parse_timestamp`, remembered per text and local time zone (dateutil picks the local zone
    for a time in it); numbers, and text botocore refuses (which raises each time), are parsed each time. Also
    under botocore's `parse_to_aware_datetime`, which moto's serializers call for every time they answer with
    (moto keeps most as text: an S3 listing parses each key's LastModified, ~30 % of ListObjectsV2)."""
    if type(value) is not str:
        return _original_parse_timestamp(value)
    key = (value, tuple(time.tzname))
    parsed = _timestamps.get(key)
    if parsed is None:
        parsed = _original_parse_timestamp(value)
        if len(_timestamps) > 8192:
            _timestamps.clear()
        _timestamps[key] = parsed
    return parsed


# ------------------------------------------------------------------ DynamoDB actions: copies, expressions, errors
def _item_deepcopy(self: Item, memo: dict[int, Any]) -> Item:
    """moto's `Item.__deepcopy__` (a new item through the class's `__new__`, its keys and attributes deep-copied
    through `memo` into a dict of moto's `LimitedSizeDict` built without its size check), each DynamoType copied
    by `_dynamo_type_deepcopy` directly instead of through `copy.deepcopy`'s dispatch (a 60-attribute item: 60
    dispatches a copy, on every UpdateItem answered with an old image and every transaction)."""
    known = memo.get(id(self))
    if known is not None:
        return known  # type: ignore[no-any-return]
    result: Any = self.__class__.__new__(self.__class__)
    memo[id(self)] = result
    result.hash_key = _deepcopy_member(self.hash_key, memo)
    result.range_key = _deepcopy_member(self.range_key, memo)
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(attrs)
    for name, value in self.attrs.items():
        dict.__setitem__(attrs, name, _deepcopy_member(value, memo))
    result.attrs = attrs
    return result


def _deepcopy_member(value: Any, memo: dict[int, Any]) -> Any:
    return _dynamo_type_deepcopy(value, memo) if type(value) is DynamoType else copy.deepcopy(value, memo)


# moto's UpdateItem strips the spaces around `=`, `+` and `-` of every expression (`re.sub`), a scan of the whole
# text, to test the result for emptiness only: the answer for each text is kept (a pure function of its inputs).
_substitutions: dict[tuple[str, str, str], str] = {}
_SUBSTITUTIONS_KEPT = 1024


class _BackendModuleRe:
    """The `re` module as moto's DynamoDB backend sees it under `speedups()`: `sub` of text by text is answered
    from the texts seen (its only use of `re` there); every other use is the re module's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def sub(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
        if not (type(pattern) is str and type(repl) is str and type(string) is str and count == 0 and flags == 0):
            return re.sub(pattern, repl, string, count=count, flags=flags)
        key = (pattern, repl, string)
        result = _substitutions.get(key)
        if result is None:
            result = re.sub(pattern, repl, string)
            if len(_substitutions) >= _SUBSTITUTIONS_KEPT:
                _substitutions.clear()
            _substitutions[key] = result
        return result


_original_json_rest_error_init = JsonRESTError.__init__
# error class -> whether moto's JsonRESTError.__init__ for it is `_json_rest_error_init`'s (see there)
_plain_json_errors: dict[type, bool] = {}
_ERROR_STATE = ("error_type", "message", "description", "content_type")


def _is_plain_json_error(cls: type) -> bool:
    plain = _plain_json_errors.get(cls)
    if plain is None:
        mro = cls.__mro__
        at = mro.index(JsonRESTError)
        plain = _plain_json_errors[cls] = (
            mro[at + 1:at + 3] == (_RESTError, HTTPException)
            and not any(hasattr(getattr(cls, name, None), "__set__") for name in _ERROR_STATE))
    return plain


def _json_rest_error_init(self: JsonRESTError, error_type: str, message: str, _: str = "", **kwargs: Any) -> None:
    """moto's JSON error (every DynamoDB refusal, e.g. a failed condition: thousands in a test run): its parent
    renders an XML body with xmltodict, which the JSON error replaces at once by its JSON body. The same state is
    set here without the XML rendering: werkzeug's exception, the type and message, the JSON body and its content
    type. A class placing another class between these, or with a property for any of that state, is moto's."""
    if not _is_plain_json_error(type(self)):
        _original_json_rest_error_init(self, error_type, message, _, **kwargs)
        return
    HTTPException.__init__(self)
    self.error_type = error_type
    self.message = message
    self.description = json.dumps({"__type": self.error_type, "message": self.message})
    self.content_type = "application/json"


class _ComparedDump:
    """moto's `dynamo_json_dump` of a BatchWriteItem request's item or key, as its duplicate check uses it: compared
    with `==` to the others' (a list's `in`, quadratic) and nothing else. The JSON text (a dump of every whole item
    of the batch, a few KB each) is made only when two are compared that the first attributes cannot tell apart:
    two equal texts hold the same attributes in the same order, so two items whose first attributes differ at a
    string or number value (a key, the recorder's first attributes) have different texts."""

    __slots__ = ("_leading", "_text", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self._text: str | None = None
        self._leading = list(value.items())[:2] if type(value) is dict else None

    def text(self) -> str:
        if self._text is None:
            self._text = dynamo_json_dump(self.value)
        return self._text

    def __eq__(self, other: object) -> bool:
        if type(other) is not _ComparedDump:
            return NotImplemented
        if self._leading is not None and other._leading is not None and _leading_values_differ(self._leading,
                                                                                               other._leading):
            return False
        return self.text() == other.text()

    __hash__ = None  # type: ignore[assignment]


def _leading_values_differ(mine: list[tuple[Any, Any]], theirs: list[tuple[Any, Any]]) -> bool:
    """Whether two items' first attributes differ where their JSON texts must: a name, or a string or number
    value (an AttributeValue `{"S"|"N": text}`, which the dump writes as it is)."""
    for (name, value), (other_name, other_value) in zip(mine, theirs, strict=False):
        if name != other_name:
            return type(name) is str and type(other_name) is str
        if (type(value) is dict and type(other_value) is dict and len(value) == 1 and len(other_value) == 1):
            ((kind, text),), ((other_kind, other_text),) = value.items(), other_value.items()
            if (kind in ("S", "N") and other_kind in ("S", "N") and type(text) is str and type(other_text) is str
                    and (kind, text) != (other_kind, other_text)):
                return True
    return False


# True while this thread's handler serves a BatchWriteItem (its only use of `dynamo_json_dump`: the duplicate check)
_batch_write_dumps: ContextVar[bool] = ContextVar("moto_speedups_batch_write_dumps", default=False)
_original_batch_write_item = moto_dynamodb_responses.DynamoHandler.batch_write_item


def _handler_batch_write_item(self: Any) -> Any:
    token = _batch_write_dumps.set(True)
    try:
        return _original_batch_write_item(self)
    finally:
        _batch_write_dumps.reset(token)


def _responses_json_dump(value: Any) -> Any:
    """`dynamo_json_dump` as moto's DynamoDB handler module sees it: within BatchWriteItem, a `_ComparedDump`."""
    return _ComparedDump(value) if _batch_write_dumps.get() else dynamo_json_dump(value)


# ------------------------------------------------------------------ every request: moto's request setup
class _RememberedSearches:
    """A compiled pattern whose `search` answers are remembered per text (a pure function of it; match objects
    do not change). moto searches every request's Authorization header for the access key twice (its pattern,
    `AWS.*(?P<access_key>...)`, backtracks from the header's end: 0.6 % of a `make test` run, py-spy), and the
    header repeats while the signature is not computed (see `_add_auth`)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self._found: dict[str, re.Match[str] | None] = {}

    def search(self, text: Any, *bounds: Any) -> re.Match[str] | None:
        if bounds or type(text) is not str:
            return self.pattern.search(text, *bounds)
        return _remembered(self._found, text, lambda: self.pattern.search(text), limit=1024)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pattern, name)


_original_http_date = moto_core_responses.http_date
# (a naive datetime to the second, its HTTP date): the one moto formatted last
_last_http_date: tuple[datetime.datetime, str] | None = None


def _http_date(timestamp: Any = None) -> str:
    """werkzeug's `http_date`, which moto formats for every response's Date header (0.4 % of a run); a naive
    datetime (read as UTC) is formatted to the second, so the text of the last second formatted is kept."""
    global _last_http_date
    if type(timestamp) is not datetime.datetime or timestamp.tzinfo is not None:
        return _original_http_date(timestamp)
    second = timestamp.replace(microsecond=0)
    last = _last_http_date
    if last is not None and last[0] == second:
        return last[1]
    text = _original_http_date(timestamp)
    _last_http_date = (second, text)
    return text


_original_create_account_specific_backend = BackendDict._create_account_specific_backend


def _create_account_specific_backend(self: BackendDict, account_id: str) -> None:
    """moto's check, at every backend lookup (several per request), that the account's backend exists and the
    service's BackendDict is listed among those in use: it lists the dict's keys and compares the BackendDict
    with each one listed before it (a Python `__eq__` each). When the account is there and the dict is listed
    itself, moto changes nothing; anything else is moto's (under its lock). Where the dict was last found in the
    list is kept with it, and looked at first (the list only grows until moto's reset clears it)."""
    if type(account_id) is str and dict.__contains__(self, account_id):
        listed = BackendDict._instances  # type: ignore[misc]
        position = self.__dict__.get("_speedups_listed_at", -1)
        if 0 <= position < len(listed) and listed[position] is self:
            return
        position = next((i for i, each in enumerate(listed) if each is self), -1)
        if position >= 0:
            self.__dict__["_speedups_listed_at"] = position
            return
    _original_create_account_specific_backend(self, account_id)


_original_account_backend_getitem = AccountSpecificBackend.__getitem__


def _account_backend_getitem(self: AccountSpecificBackend, region_name: str) -> Any:
    """moto's lookup of a region's backend (several per request: IAM's account search alone tries each partition)
    tests the name against the dict's keys view before reading it; a backend already there is read directly.
    Anything else ("global", a backend to create) is moto's."""
    if type(region_name) is str and region_name != "global":
        backend = dict.get(self, region_name, _MISSING)
        if backend is not _MISSING:
            return backend
    return _original_account_backend_getitem(self, region_name)


# (scheme, Host header, server, root path) -> werkzeug's host and root URL for a request with them (the root URL
# is the host's URL: werkzeug converts it to an IRI, decoding IDNA and percent-escapes, at every request)
_root_urls: dict[tuple[Any, ...], tuple[str, str]] = {}


def _from_primitives_with_root_url(cls: type, method: str, url: str, headers: Any, body: Any = None) -> Any:
    """moto's request (see `_from_primitives`), with the root URL werkzeug computes from it already in place: moto
    reads `raw_url`, and so the root URL, for every request (1 % of a run). werkzeug caches the host and the root
    URL (`url_root`, `root_url`) on the request when first read, as computed from the scheme, the Host header,
    the server and the root path alone (no trusted hosts are set); for a request with the same four, the same
    texts are cached here in their place."""
    request = _from_primitives(cls, method, url, headers, body)
    if cls is not MotoRequest or request.trusted_hosts is not None:
        return request
    key = (request.scheme, request.headers.get("host"), request.server, request.root_path)
    known = _root_urls.get(key)
    if known is None:
        try:
            known = (request.host, request.url_root)
        except Exception:  # werkzeug refuses it: raised when moto reads it, as without the fast path
            return request
        if len(_root_urls) > 1024:
            _root_urls.clear()
        _root_urls[key] = known
    else:
        request.__dict__["host"], request.__dict__["root_url"] = known
        request.__dict__["url_root"] = known[1]
    return request


# ------------------------------------------------------------------ every request: headers, body and action name
def _header_pairs(headers: Any) -> Any:
    """The (name, value) pairs of a request's headers, in order. botocore's HeadersDict lists them through the
    generic mapping view, which looks each name up again (a lower-cased key object built for it: ~10 us a
    request); its stored pairs are the same (its keys are unique lower-cased, each kept with its name as given)."""
    if type(headers) is HeadersDict:
        return [(str(key), value) for key, value in headers._dict.items()]
    return headers.items()


_original_request_data = WerkzeugRequest.__dict__["data"]
_original_form_parse = FormDataParser.parse
_FORM_WORD = "form"  # in the Content-Type of either form werkzeug parses (multipart/form-data, x-www-form-urlencoded)


def _request_data(self: WerkzeugRequest) -> bytes:
    """werkzeug's `Request.data` (moto reads every request's body through it: ~25 us of a request): it parses the
    Content-Type (mimetype and parameters) and the length, and builds a form parser, which for any type but a
    form's returns the stream with an empty form and files; then it reads the stream and keeps the bytes. A
    request whose Content-Type cannot name a form (the mimetype is a part of it, lower-cased), whose form and
    body were not read yet, with werkzeug's form parser, gets that state directly: the same stream (werkzeug's),
    read to its end, the same empty form and files, the same bytes and length kept (werkzeug's parsed
    Content-Type, a cache it fills when first read, is left to be filled then). Anything else is werkzeug's."""
    state = self.__dict__
    if (getattr(self, "_cached_data", None) is not None or "form" in state
            or _FORM_WORD in self.environ.get("CONTENT_TYPE", "").lower()
            or self.form_data_parser_class is not FormDataParser or FormDataParser.parse is not _original_form_parse):
        return _original_request_data.fget(self)  # type: ignore[no-any-return]
    stream = self.stream
    if self.want_form_data_parsed:  # werkzeug then hands its form parser the length, which it caches
        self.content_length  # noqa: B018
    state["stream"], state["form"], state["files"] = (stream, self.parameter_storage_class(),
                                                     self.parameter_storage_class())
    data: bytes = stream.read()
    self._cached_data = data
    return data


_original_camelcase_to_underscores = moto_core_utils.camelcase_to_underscores
_snake_case_names: dict[str, str] = {}  # text -> moto's snake-case name for it


def _camelcase_to_underscores(argument: Any) -> Any:
    """moto's `camelcase_to_underscores` (every request's action name, ~5 us each; SQS attribute names), a pure
    function of the text: each text's answer is remembered (the names are few: actions and attributes)."""
    if type(argument) is not str:
        return _original_camelcase_to_underscores(argument)
    return _remembered(_snake_case_names, argument, lambda: _original_camelcase_to_underscores(argument))


_original_raw_path = MotoRequest.raw_path
_raw_paths: dict[str, str] = {}  # the RAW_URI (or werkzeug's path) -> moto's raw path of it


def _raw_path(self: MotoRequest) -> str:
    """moto's `raw_path` (read three times a request: its raw URL twice, and the path itself), which parses the
    environ's RAW_URI (werkzeug's path when there is none) each time: a pure function of that text, remembered."""
    raw_uri = self.environ.get("RAW_URI", "") or self.path
    if type(raw_uri) is not str:
        return _original_raw_path.fget(self)  # type: ignore[no-any-return, attr-defined]
    return _remembered(_raw_paths, raw_uri, lambda: _original_raw_path.fget(self))  # type: ignore[attr-defined]


_original_json_list = BaseJSONSerializer._serialize_type_list


def _wire_item(item: Any) -> dict[str, Any]:
    """An item (a map of AttributeValues) as `_serialize_json_map` writes it when every attribute is in wire form;
    raises for anything it would hand to moto (not a dict, an empty name, binary)."""
    if type(item) is not dict:
        raise _NotWireForm
    wire = {}
    for name, attribute in item.items():
        if not name:
            raise _NotWireForm
        wire[name] = _wire_attribute_value(attribute)
    return wire


def _serialize_json_list(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
    """moto's JSON serializer writes a list member by member through `_serialize` (a wrapper dict each, the
    member's method looked up by name); for a list of items (DynamoDB's Items of Query and Scan, BatchGetItem's
    answers) each member is the map `_serialize_json_map` builds, which is put in the list directly. A list with
    an item it would not build (see `_wire_item`), another member shape, or a serializer whose map or member
    dispatch is not that one goes through moto."""
    member = shape.member
    if not (type(value) is list and member.type_name == "map" and "name" not in member.serialization
            and member.value.name == "AttributeValue" and "name" not in member.value.serialization
            and self.service_model.service_name == "dynamodb" and _plain_value_picker(self._value_picker)
            and type(self)._serialize_type_map is _serialize_json_map  # type: ignore[comparison-overlap]
            and type(self)._serialize is ResponseSerializer._serialize):
        _original_json_list(self, serialized, value, shape, key)
        return
    try:
        items = [_wire_item(item) for item in value]
    except _NotWireForm:
        _original_json_list(self, serialized, value, shape, key)
        return
    self._default_serialize(serialized, items, shape, key)


# ------------------------------------------------------------------ every request: the parser's request parts
class _RequestParts(dict):  # type: ignore[type-arg]
    """The parts of a request moto hands its parser, with werkzeug's `values` (the query string's arguments and the
    form combined: ~10 us a request) taken from the request when the parser reads them (a query protocol's parser;
    the JSON parsers never do). Both are parsed once by werkzeug and cached, so a later read gets the same."""

    def __init__(self, request: Any, parts: dict[str, Any]) -> None:
        super().__init__(parts)
        self._request = request

    def __missing__(self, key: str) -> Any:
        if key != "values":
            raise KeyError(key)
        values = self["values"] = self._request.values
        return values


def _parse_parameters(self: Any, request: Any) -> None:
    """moto's `BaseResponse.parse_parameters` (its own steps, through its module's names), the request's parts
    handed over as `_RequestParts`."""
    service_model = moto_core_responses.get_service_model(self.boto3_service_name)
    operation_model = service_model.operation_model(self._get_action())
    protocol = moto_core_responses.determine_request_protocol(service_model, request.content_type)
    parser_cls = moto_core_responses.PROTOCOL_PARSERS[protocol]
    parser = parser_cls(operation_model, map_type=self.PROTOCOL_PARSER_MAP_TYPE)
    parsed = parser.parse(_RequestParts(request, {
        "method": request.method,
        "headers": request.headers,
        "body": request.data,
        "url_path": request.path,
        "url_params": self.uri_match,
    }))  # type: ignore[arg-type]  # moto's RequestDict, as a dict that reads `values` when asked
    self.params = parsed


# ------------------------------------------------------------------ every request: a backend's URL table
# (backend class, moto's settings in the environment) -> the class's URL table, compiled
_url_tables: dict[tuple[type, tuple[tuple[str, str], ...]], list[tuple[re.Pattern[str], Any]]] = {}


def _url_table(backend: Any) -> list[tuple[re.Pattern[str], Any]]:
    """A backend's URL table (`urls`: each URL pattern and its handler, in moto's order), compiled, for a URL not
    routed before (every new S3 key). moto rebuilds it at each lookup from the class's urls module, S3's reloaded
    twice (its URLs follow MOTO_S3_CUSTOM_ENDPOINTS), and the patterns are compiled again past `re`'s cache:
    ~0.8 ms a new S3 URL. The table is built once per class and per value of moto's settings (`MOTO_*`) in the
    environment, which is all it reads; a class with a `urls` of its own is asked each time."""
    if type(backend).urls is not BaseBackend.urls:
        return [(re.compile(url), handler) for url, handler in backend.urls.items()]
    key = (type(backend), tuple(sorted((name, value) for name, value in os.environ.items()
                                       if name.startswith("MOTO_"))))
    return _remembered(_url_tables, key, lambda: [(re.compile(url), handler) for url, handler in backend.urls.items()],
                       limit=256)  # settings changed often: the tables of the latest ones


# ------------------------------------------------------------------ moto's start: the requests it intercepts
_original_enable_patching = MockAWS._enable_patching
# (moto's stubber, HTTP methods, service URL patterns) -> the entries moto's start registers for them, by method
_intercepts: tuple[Any, dict[str, list[moto_responses_mock.CallbackResponse]]] | None = None


def _intercepted_urls() -> dict[str, list[moto_responses_mock.CallbackResponse]]:
    """The `responses` entries moto's start registers, by HTTP method in its order: for each method, the stubber's
    callback for every service's URL pattern, then the catch-all AWS URL answered "not implemented". Built once
    for the same stubber, methods and patterns (an entry only reads them), as moto builds them."""
    global _intercepts
    key = (moto_core_models.botocore_stubber, tuple(moto_core_models.RESPONSES_METHODS),
           tuple(backend_index.backend_url_patterns))
    if _intercepts is None or _intercepts[0] != key:
        stubber, methods, url_patterns = key
        _intercepts = (key, {method: [
            *(moto_responses_mock.CallbackResponse(method=method, url=pattern,
                                                  callback=stubber.process_prepared_request)
              for _, pattern in url_patterns),
            moto_responses_mock.CallbackResponse(method=method, url=re.compile(r"https?://.+\.amazonaws.com/.*"),
                                                 callback=moto_responses_mock.not_implemented_callback)]
            for method in methods})
    return _intercepts[1]


def _enable_patching(self: MockAWS, reset: bool = True) -> None:
    """moto's start (mock_aws entered inside `speedups()`) registers with `responses`, which intercepts the
    `requests` library's calls, ~1,300 entries (a callback per HTTP method and service URL pattern), each built
    anew: ~5 ms a start, the whole of it. A start that resets moto, leaving its registry empty, registers the
    same entries, built once, each with an empty call record as a new entry's; any other start is moto's."""
    if not reset:
        return _original_enable_patching(self, reset)
    moto_core_models.botocore_stubber.enabled = True
    self.reset()
    responses_mock = moto_core_models.responses_mock
    registry = responses_mock._registry
    if type(registry) is not CustomRegistry or registry._registered:
        return _original_enable_patching(self, reset=False)  # moto's registrations, without a second reset
    responses_mock.start()
    for method, entries in _intercepted_urls().items():
        for entry in entries:
            if entry._calls._calls:  # it answered a request under an earlier start
                entry._calls = responses.CallList()
        registry._registered[method] += entries
    return None


# ------------------------------------------------------------------ responses: the structure walk
_original_structure_walk = ResponseSerializer._serialize_type_structure
# a member shape's type -> (moto's method for it, the exact type of value it hands on unchanged); see `_plain_kinds`
_PLAIN_SCALARS = {"string": ("_serialize_type_string", BaseJSONSerializer._serialize_type_string, str),
                  "integer": ("_serialize_type_integer", ResponseSerializer._serialize_type_integer, int),
                  "long": ("_serialize_type_long", ResponseSerializer._serialize_type_integer, int),
                  "float": ("_serialize_type_float", ResponseSerializer._serialize_type_float, float),
                  "double": ("_serialize_type_double", ResponseSerializer._serialize_type_float, float),
                  "boolean": ("_serialize_type_boolean", None, bool)}


class _MemberPlan:
    """How the structure walk finds and writes one member of a structure shape (see `_walk_structure`)."""

    __slots__ = ("key", "names", "plain_type", "shape", "written_as")

    def __init__(self, picker: Any, key: str, shape: Any, plain_types: dict[str, type]) -> None:
        self.key, self.shape = key, shape
        names = tuple(picker.get_possible_keys(AttributePickerContext(obj={}, key=key, shape=shape)))
        # a path (moto walks it) leaves the member to moto's own lookup
        self.names: tuple[str, ...] | None = None if any("." in name for name in names) else names
        self.plain_type = plain_types.get(shape.type_name)
        self.written_as = shape.serialization.get("name", key)


def _plain_kinds(serializer_class: type[ResponseSerializer]) -> dict[str, type] | None:
    """For a serializer class whose member dispatch is moto's (`_serialize`, `_default_serialize`, the member's
    name): the shape types whose method hands a value of one exact type on unchanged (JSON's string method keeps
    a `str` as it is, `int(value)` an `int`, `float(value)` a `float`; a boolean has no method, `_default_serialize`
    writes it as it is). None: every member goes through `_serialize`."""
    if not (serializer_class._serialize is ResponseSerializer._serialize  # type: ignore[comparison-overlap]
            and serializer_class._default_serialize is ResponseSerializer._default_serialize  # type: ignore[comparison-overlap]
            and serializer_class.get_serialized_name is ResponseSerializer.get_serialized_name):  # type: ignore[comparison-overlap]
        return None
    return {type_name: plain_type for type_name, (method, moto_s, plain_type) in _PLAIN_SCALARS.items()
            if getattr(serializer_class, method, None) is moto_s}


# (serializer class, picker class, structure shape id) -> (the shape, its members dict, the member plans): shapes come
# from moto's cached service models (members cached per shape); the entry keeps both alive, so ids are not reused
_structure_plans: list[dict[tuple[type, type, int], tuple[Any, Any, list[_MemberPlan]]]] = []


def _per_shape(plans: dict[Any, tuple[Any, Any, _Value]], memo: Any, shape: Any,
               build: Callable[[Any], _Value]) -> _Value:
    """`build(shape.members)`, made once per `memo` (which holds the shape's id): the entry keeps the shape and its
    members alive, and is made again if either is not the one it was made for."""
    members = shape.members
    entry = plans.get(memo)
    if entry is None or entry[0] is not shape or entry[1] is not members:
        entry = plans[memo] = (shape, members, build(members))
    return entry[2]


def _member_plans(serializer: ResponseSerializer, shape: Any) -> list[_MemberPlan] | None:
    """The member plans of a structure for a serializer whose member lookup is moto's picker on a plain dict (see
    `_serializer_get_value`), or None when the walk is moto's (another picker, response transformers, a member
    lookup, value lookup or walk overridden)."""
    picker = serializer._value_picker
    serializer_class = type(serializer)
    if not (_structure_plans and type(picker) in (AttributePicker, XFormedAttributePicker)
            and not picker.response_transformers and tuple(picker.alias_providers) == _DEFAULT_PROVIDERS
            and serializer_class._serialize_structure_member is ResponseSerializer._serialize_structure_member
            and serializer_class.get_value is ResponseSerializer.get_value
            and ResponseSerializer.get_value in (_original_get_value, _serializer_get_value)):
        return None

    def build(members: Any) -> list[_MemberPlan]:
        plain_types = _plain_kinds(serializer_class) or {}
        member_plans = []
        for key, member_shape in members.items():
            member_shape.parent = shape  # as moto sets it before looking the member up (its aliases read it)
            member_plans.append(_MemberPlan(picker, key, member_shape, plain_types))
        return member_plans

    return _per_shape(_structure_plans[-1], (serializer_class, type(picker), id(shape)), shape, build)


def _walk_structure(self: ResponseSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
    """moto's walk over every member of a structure (every answer's output shape: ~13 members per DynamoDB answer,
    most absent) asks the picker for each member (`_serializer_get_value`: a memo lookup per member), then
    dispatches it by name through `_serialize` to a method that writes it under its serialized name. For a plain
    dict result, each member's names are listed once per shape, and a member of a scalar type whose value has the
    exact type moto's method hands on unchanged is written directly; every other member goes through
    `_serialize` (or, for a path among its names, moto's member lookup) as moto's walk sends it."""
    plans = _member_plans(self, shape) if type(value) is dict else None
    if plans is None:
        _original_structure_walk(self, serialized, value, shape, key)
        return
    wrapper: Any = self.MAP_TYPE() if key else serialized
    for plan in plans:
        member_shape = plan.shape
        member_shape.parent = shape
        names = plan.names
        if names is None:
            self._serialize_structure_member(wrapper, value, member_shape, plan.key)
            continue
        for name in names:
            if name in value:
                member_value = value[name]
                break
        else:
            continue
        if member_value is None:
            continue
        if type(member_value) is plan.plain_type:
            wrapper[plan.written_as] = member_value
        else:
            self._serialize(wrapper, member_value, member_shape, plan.key)
    if key:
        self._default_serialize(serialized, wrapper, shape, key)


# ------------------------------------------------------------------ requests: the JSON structure walk
# (parser class, structure shape id) -> (the shape, its members dict, [(member name, its JSON name, its shape, whether
# moto keeps its value as it is)]): the shapes are moto's cached ones; the entry keeps both alive (ids not reused)
_input_plans: list[dict[tuple[type, int], tuple[Any, Any, list[tuple[str, str, Any, bool]]]]] = []


def _kept_as_is(parser_class: type, shape: Any) -> bool:
    """Whether moto's `_parse_shape` hands a value of this shape to the default handler (no `_parse_<type>`
    method: strings and booleans of the JSON parsers), which returns it as it is."""
    return (parser_class._parse_shape is RequestParser._parse_shape  # type: ignore[attr-defined]
            and parser_class._default_handle is RequestParser._default_handle  # type: ignore[attr-defined]
            and not hasattr(parser_class, f"_parse_{shape.type_name}"))


def _input_members(parser: JSONParser, shape: Any) -> list[tuple[str, str, Any, bool]] | None:
    """The member plans of an input structure for a JSON parser, or None when the walk is moto's (no speedups()
    block, a document type)."""
    if not _input_plans or shape.is_document_type:
        return None
    return _per_shape(_input_plans[-1], (type(parser), id(shape)), shape, lambda members: [
        (name, member.serialization.get("name", name), member, _kept_as_is(type(parser), member))
        for name, member in members.items()])


def _walk_json_input(self: JSONParser, shape: Any, value: Any) -> Any:
    """moto's JSON request parser looks every member of an input structure up (~13 per DynamoDB request) and
    parses each one present through `_parse_shape`, which looks its handler up by name (a failing attribute lookup
    for a string, whose default handler returns it as it is). For a dict, the members' JSON names are listed once
    per shape, and a member moto would keep as it is is kept directly; any other goes through `_parse_shape`. An
    AttributeValue, or anything but a dict, is parsed as without this walk (`_parse_json_structure`)."""
    plans = _input_members(self, shape) if type(value) is dict and shape.name != "AttributeValue" else None
    if plans is None:
        return _parse_json_structure(self, shape, value)
    parsed = self.MAP_TYPE()
    for name, json_name, member_shape, kept_as_is in plans:
        raw_value = value.get(json_name)
        if raw_value is not None:
            parsed[name] = raw_value if kept_as_is else self._parse_shape(member_shape, raw_value)
    return parsed


@contextmanager
def speedups() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(EventTemplateParser, "parse", staticmethod(_parse)))
        stack.enter_context(mock.patch.object(EventsBackend, "put_events", _put_events))
        stack.enter_context(mock.patch.object(moto_events_models, "copy", _EventsModuleCopy()))
        stack.enter_context(mock.patch.object(SQSBackend, "is_message_valid_based_on_retention_period",
                                              _is_message_valid_based_on_retention_period))
        stack.enter_context(mock.patch.object(Table, "query", _query))
        stack.enter_context(mock.patch.object(Table, "all_items", _table_all_items))
        stack.enter_context(mock.patch.object(jsonpath_ng.ext, "parse", _cached_jsonpath))
        stack.enter_context(mock.patch.object(ConditionExpressionParser, "parse", _condition_parse))
        stack.enter_context(mock.patch.object(Queue, "messages", property(_VisibleMessages)))
        stack.enter_context(mock.patch.object(Queue, "attributes", property(_QueueAttributes)))
        stack.enter_context(mock.patch.object(Node, "find_clauses", _find_clauses))
        for validator, check in ((ActionCountValidator, ActionCountValidator.verify_action_counts),
                                 (OverlappingPathsValidator, OverlappingPathsValidator.check_for_overlapping_paths)):
            stack.enter_context(mock.patch.object(validator, "traverse",
                                                  _remembering_clauses(validator.traverse, check)))
        stack.enter_context(mock.patch.object(BaseJSONSerializer, "_serialize_type_structure",
                                              _serialize_type_structure))
        stack.enter_context(mock.patch.object(moto_dynamodb_responses, "dynamo_to_dict", _dynamo_to_dict))
        stack.enter_context(mock.patch.object(UpdateExpressionParser, "make", classmethod(_make)))
        stack.enter_context(mock.patch.object(Node, "__deepcopy__", _node_deepcopy, create=True))
        stack.enter_context(mock.patch.object(DepthFirstTraverser, "traverse_node_recursively",
                                              _traverse_node_recursively))
        stack.enter_context(mock.patch.object(UpdateExpressionValidator, "__init__", _validator_init))
        stack.enter_context(mock.patch.object(UpdateExpressionValidator, "validate", _validate))
        stack.enter_context(mock.patch.object(DynamoType, "size", _dynamo_type_size))
        stack.enter_context(mock.patch.object(DynamoType, "__deepcopy__", _dynamo_type_deepcopy))
        stack.enter_context(mock.patch.object(LimitedSizeDict, "__setitem__", _limited_size_setitem))
        stack.enter_context(mock.patch.object(Item, "__init__", _item_init))
        stack.enter_context(mock.patch.object(DynamoType, "__init__", _dynamo_type_init))
        stack.enter_context(mock.patch.object(Table, "attribute_keys", property(_table_attribute_keys)))
        stack.enter_context(mock.patch.object(Message, "mark_received", _mark_received))
        if _CHOICES_ARE_MOTO_S:
            stack.enter_context(mock.patch("moto.sqs.models.generate_receipt_handle", _generate_receipt_handle))
            stack.enter_context(mock.patch.object(moto_core_responses, "gen_amzn_requestid_long",
                                                  _gen_amzn_requestid_long))
        stack.enter_context(mock.patch.object(Queue, "delete_message", _delete_message))
        stack.enter_context(mock.patch.object(SQSBackend, "delete_message_batch", _delete_message_batch))
        stack.enter_context(mock.patch.object(moto_core_responses, "method_names_from_class",
                                              _method_names_from_class))
        stack.enter_context(mock.patch.object(moto_core_responses.BaseResponse, "_enrich_response",
                                              staticmethod(_enrich_response)))
        stack.enter_context(mock.patch.object(Item, "size", _item_size))
        stack.enter_context(mock.patch.object(table_module, "copy", _TableModuleCopy()))
        stack.enter_context(mock.patch.object(moto_dynamodb_models, "copy", _BackendModuleCopy()))
        stack.enter_context(mock.patch.object(DynamoDBBackend, "transact_write_items", _transact_write_items))
        stack.enter_context(mock.patch.object(Table, "put_item", _table_put_item))
        stack.enter_context(mock.patch.object(Table, "delete_item", _table_delete_item))
        stack.enter_context(mock.patch.object(DynamoDBBackend, "update_item", _backend_update_item))
        stack.enter_context(mock.patch.object(moto_dynamodb_responses.DynamoHandler, "update_item",
                                              _handler_update_item))
        stack.enter_context(mock.patch.object(moto_dynamodb_responses.DynamoHandler, "dynamodb_backend",
                                              property(_handler_backend)))
        stack.enter_context(mock.patch.object(ResponseSerializer, "get_value", _serializer_get_value))
        stack.enter_context(mock.patch.object(SigV4Auth, "signature", _signature))
        stack.enter_context(mock.patch.object(SigV4Auth, "add_auth", _add_auth))
        stack.enter_context(mock.patch.object(EventAliaser, "__init__", _aliaser_init))
        stack.enter_context(mock.patch.object(_PrefixTrie, "__copy__", _copy_trie))
        stack.enter_context(mock.patch.object(ClientCreator, "_load_service_model", _load_service_model))
        stack.enter_context(mock.patch.object(botocore_regions, "EndpointProvider", _endpoint_provider))
        stack.enter_context(mock.patch.object(botocore_hooks, "accepts_kwargs", _accepts_kwargs))
        stack.enter_context(mock.patch.object(botocore_auth, "_host_from_url", _host_from_url))
        stack.enter_context(mock.patch.object(AWSRequest, "body", property(_request_body)))
        stack.enter_context(mock.patch.object(EndpointRulesetResolver, "_get_provider_params", _get_provider_params))
        for name, fast in (("__init__", _headers_init), ("__setitem__", _headers_setitem),
                           ("__getitem__", _headers_getitem), ("__delitem__", _headers_delitem),
                           ("__contains__", _headers_contains), ("get", _headers_get)):
            stack.enter_context(mock.patch.object(HeadersDict, name, fast))
        stack.enter_context(mock.patch.object(HTTPHeaders, "items", _message_items))
        stack.enter_context(mock.patch.object(HTTPHeaders, "get", _message_get))
        stack.enter_context(mock.patch.object(OrRetryChecker, "is_retryable", _any_retryable))
        stack.enter_context(mock.patch.object(botocore_endpoint, "uuid", _EndpointUuid()))
        stack.enter_context(mock.patch.object(botocore_handlers, "os", _HandlersOs()))
        stack.enter_context(mock.patch.object(ParamValidator, "_validate_structure", _validate_structure))
        stack.enter_context(mock.patch.object(ParamValidator, "_validate_map", _validate_map))
        stack.enter_context(mock.patch.object(ParamValidator, "validate", _validate_params))
        stack.enter_context(mock.patch.object(HierarchicalEmitter, "_emit", _emit))
        stack.enter_context(mock.patch.object(EventAliaser, "emit", _aliaser_emit))
        stack.enter_context(mock.patch.object(UserAgentString, "to_string", _user_agent))
        stack.enter_context(mock.patch.object(botocore_serialize.JSONSerializer, "_serialize_type_map",
                                              _serialize_request_map))
        stack.enter_context(mock.patch.object(JSONParser, "_parse_map", _parse_json_map))
        stack.enter_context(mock.patch.object(botocore_serialize.JSONSerializer, "_serialize_type_structure",
                                              _serialize_request_structure))
        stack.enter_context(mock.patch.object(botocore_parsers.BaseJSONParser, "_handle_structure",
                                              _parse_response_structure))
        stack.enter_context(mock.patch.object(botocore_parsers.BaseJSONParser, "_handle_map", _parse_response_map))
        stack.enter_context(mock.patch.object(BaseJSONSerializer, "_serialize_type_map", _serialize_json_map))
        stack.enter_context(mock.patch.object(BotocoreStubber, "process_request", _process_request))
        stack.enter_context(mock.patch.object(botocore_parsers, "DEFAULT_TIMESTAMP_PARSER", _parse_timestamp))
        stack.enter_context(mock.patch.object(botocore_utils, "parse_timestamp", _parse_timestamp))
        for module, name, fast in _clock_users():
            stack.enter_context(mock.patch.object(module, name, fast))
        stack.enter_context(mock.patch.object(Item, "__deepcopy__", _item_deepcopy))
        stack.enter_context(mock.patch.object(moto_dynamodb_models, "re", _BackendModuleRe()))
        stack.enter_context(mock.patch.object(JsonRESTError, "__init__", _json_rest_error_init))
        stack.enter_context(mock.patch.object(moto_dynamodb_responses.DynamoHandler, "batch_write_item",
                                              _handler_batch_write_item))
        stack.enter_context(mock.patch.object(moto_dynamodb_responses, "dynamo_json_dump", _responses_json_dump))
        # every request: moto's request setup (registered last, as a block of its own)
        stack.enter_context(mock.patch.object(moto_core_responses.BaseResponse, "access_key_regex",
                                              _RememberedSearches(moto_core_responses.BaseResponse.access_key_regex)))
        stack.enter_context(mock.patch.object(moto_core_responses, "http_date", _http_date))
        stack.enter_context(mock.patch.object(BackendDict, "_create_account_specific_backend",
                                              _create_account_specific_backend))
        stack.enter_context(mock.patch.object(AccountSpecificBackend, "__getitem__", _account_backend_getitem))
        stack.enter_context(mock.patch.object(MotoRequest, "from_primitives",
                                              classmethod(_from_primitives_with_root_url)))
        # every request, server side: headers, body, action name, raw path, DynamoDB item lists
        stack.enter_context(mock.patch.object(MotoRequest, "data", cached_property(_request_data, name="data")))
        stack.enter_context(mock.patch.object(moto_core_responses, "camelcase_to_underscores",
                                              _camelcase_to_underscores))
        stack.enter_context(mock.patch.object(moto_sqs_models, "camelcase_to_underscores", _camelcase_to_underscores))
        stack.enter_context(mock.patch.object(MotoRequest, "raw_path", property(_raw_path)))
        stack.enter_context(mock.patch.object(BaseJSONSerializer, "_serialize_type_list", _serialize_json_list))
        stack.enter_context(mock.patch.object(moto_core_responses.BaseResponse, "parse_parameters",
                                              _parse_parameters))
        # moto's start: mock_aws entered inside the block takes it
        stack.enter_context(mock.patch.object(MockAWS, "_enable_patching", _enable_patching))
        # responses: the structure walk
        stack.enter_context(mock.patch.object(ResponseSerializer, "_serialize_type_structure", _walk_structure))
        _structure_plans.append({})
        stack.callback(_structure_plans.pop)
        # requests: the JSON structure walk (it hands AttributeValues and anything but a dict to the AttributeValue
        # fast path, `_parse_json_structure`)
        stack.enter_context(mock.patch.object(JSONParser, "_parse_structure", _walk_json_input))
        _input_plans.append({})
        stack.callback(_input_plans.pop)
        # creating a client: the API methods of its class
        stack.enter_context(mock.patch.object(ClientCreator, "_create_methods", _create_methods))
        _client_methods.append({})
        stack.callback(_client_methods.pop)
        stack.enter_context(mock.patch.object(botocore_endpoint, "get_environ_proxies", _get_environ_proxies))
        stack.enter_context(mock.patch.object(EndpointCreator, "create_endpoint", _create_endpoint))
        # creating a client: the session's handlers, one snapshot per state shared by the clients' copies
        stack.enter_context(mock.patch.object(_PrefixTrie, "append_item", _trie_append_item))
        stack.enter_context(mock.patch.object(_PrefixTrie, "remove_item", _trie_remove_item))
        _trie_snapshots.append({})
        stack.callback(_trie_snapshots.pop)
        stack.callback(_trie_changes.clear)
        _url_environs.append({})
        _routes.append({})
        _received.append({})
        _method_names.append({})
        for level in _partitions:
            level.clear()
        _partitions.append({})
        try:
            yield
        finally:
            _routes.pop()
            _url_environs.pop()
            _received.pop()
            _method_names.pop()
            _partitions.pop()
            for level in _partitions:
                level.clear()
