"""The secured broker keeps every principal in its lane: each refusal is the broker's own error.

Agency A (``bank<tag>``) and its neighbour B (``bank<tag>-2``, an id that extends A's) each hold only
write on their request topic, read on their response topic and groups ``<agency>.*``; the platform
users hold only what their jobs need (``dancu_bus.access``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from dancu_bus.access import AUDIT, REGISTRY, RESOLVER, Grant, agency_grants, platform_grants
from dancu_bus.admin.config import client_config
from dancu_bus.admin.security import (
    describe_acls,
    describe_agency_acls,
    issue_agency_credentials,
    revoke_agency_credentials,
)
from dancu_bus.settings import KafkaSettings
from dancu_bus.topics import packaged_topics
from tests.integration.secure_broker import SECURE_TEST_BROKER
from tests.integration.secured_env import (
    PROBE_S,
    QUIET,
    Secured,
    admin_error,
    fetch_error,
    kafka_error,
    login_errors,
    produce_error,
    secured_deployment,
    subscribe_error,
)

pytestmark = [pytest.mark.security, pytest.mark.timeout(180)]

DECLARED = packaged_topics()  # the one source of every grant
TOPIC_DENIED = KafkaError.TOPIC_AUTHORIZATION_FAILED
GROUP_DENIED = KafkaError.GROUP_AUTHORIZATION_FAILED
CLUSTER_DENIED = KafkaError.CLUSTER_AUTHORIZATION_FAILED


@pytest.fixture(scope="module")
def secured(secure_kafka: KafkaSettings) -> Iterator[Secured]:
    """One secured deployment shared by this module's tests."""
    with secured_deployment(secure_kafka) as deployment:
        yield deployment


def _code(error: KafkaError | None) -> int | None:
    return None if error is None else error.code()


@pytest.fixture(scope="module")
def agency_admin(secured: Secured) -> AdminClient:
    """An admin client logged in as agency A; it must outlive the futures it hands out."""
    return AdminClient({**client_config(secured.as_user(secured.agency))}, logger=QUIET)


def _group(secured: Secured, suffix: str) -> str:
    return f"{secured.agency}.{suffix}"


# --- what the agency may do -------------------------------------------------------------------------


def test_agency_writes_its_own_request_topic_with_an_idempotent_producer(secured: Secured) -> None:
    """Write on its request topic is all an idempotent producer needs (no IdempotentWrite on the cluster)."""
    topic = secured.names.request(secured.agency)
    error = produce_error(secured.as_user(secured.agency), topic, **{"enable.idempotence": True})
    assert error is None


def test_agency_reads_its_own_response_topic_in_its_own_group(secured: Secured) -> None:
    """A consumer group under ``<agency>.`` may read the agency's response topic."""
    topic = secured.names.response(secured.agency)
    assert subscribe_error(secured.as_user(secured.agency), topic, _group(secured, "sdk.x"), 4.0) is None


def test_issued_acls_are_exactly_the_agencys_own_and_literal(secured: Secured) -> None:
    """The broker holds for the agency exactly the grants topics.yaml gives it, topics by literal name."""
    acls = describe_agency_acls(secured.admin, secured.agency)
    assert acls == agency_grants(DECLARED, secured.names, secured.agency)
    assert {g.pattern.value for g in acls if g.resource.value == "TOPIC"} == {"LITERAL"}


def test_platform_users_hold_their_grants_for_this_deployment(secured: Secured) -> None:
    """Resolver, audit and registry hold exactly their grants on this deployment's topics and ids."""
    wanted = platform_grants(DECLARED, secured.names, secured.ids)
    for user in (RESOLVER, AUDIT, REGISTRY):
        held = describe_acls(secured.admin, user)
        mine = {g for g in held if _ours(secured, g)}
        assert mine == wanted[user], user


def _ours(secured: Secured, grant: Grant) -> bool:
    return grant.name.startswith(secured.names.prefix)


# --- what the agency may not do: other agencies' lanes and platform topics -------------------------


def test_agency_cannot_write_another_agencys_request_topic(secured: Secured) -> None:
    """A writing B's request topic (B's id extends A's) is TOPIC_AUTHORIZATION_FAILED."""
    error = produce_error(secured.as_user(secured.agency), secured.names.request(secured.neighbour))
    assert _code(error) == TOPIC_DENIED


def test_agency_cannot_read_another_agencys_response_topic(secured: Secured) -> None:
    """A reading B's response topic is TOPIC_AUTHORIZATION_FAILED."""
    topic = secured.names.response(secured.neighbour)
    assert (
        _code(subscribe_error(secured.as_user(secured.agency), topic, _group(secured, "r1"))) == TOPIC_DENIED
    )


@pytest.mark.parametrize("topic", ["audit", "registry", "catalogue"])
def test_agency_cannot_read_platform_topics(secured: Secured, topic: str) -> None:
    """A reading the audit log, the registry or a catalogue topic is TOPIC_AUTHORIZATION_FAILED."""
    name = {
        "audit": secured.names.audit,
        "registry": f"{secured.names.prefix}.registry",
        "catalogue": secured.catalogue,
    }[topic]
    assert (
        _code(subscribe_error(secured.as_user(secured.agency), name, _group(secured, topic))) == TOPIC_DENIED
    )


@pytest.mark.parametrize("topic", ["registry", "dlq", "own-response"])
def test_agency_cannot_write_platform_topics_or_forge_answers(secured: Secured, topic: str) -> None:
    """A writing the registry, the dead letters or its own response topic is TOPIC_AUTHORIZATION_FAILED."""
    name = {
        "registry": f"{secured.names.prefix}.registry",
        "dlq": secured.names.dead_letters,
        "own-response": secured.names.response(secured.agency),
    }[topic]
    assert _code(produce_error(secured.as_user(secured.agency), name)) == TOPIC_DENIED


def test_agency_cannot_read_its_own_request_topic(secured: Secured) -> None:
    """A fetching its own request topic (the resolver's input) is TOPIC_AUTHORIZATION_FAILED."""
    topic = secured.names.request(secured.agency)
    assert _code(fetch_error(secured.as_user(secured.agency), topic, _group(secured, "r2"))) == TOPIC_DENIED


@pytest.mark.parametrize("owner", ["resolver", "neighbour"])
def test_agency_cannot_join_a_group_outside_its_prefix(secured: Secured, owner: str) -> None:
    """A joining the resolver's group or B's group is GROUP_AUTHORIZATION_FAILED."""
    group = secured.ids.resolver_group if owner == "resolver" else f"{secured.neighbour}.sdk.x"
    topic = secured.names.response(secured.agency)
    assert _code(subscribe_error(secured.as_user(secured.agency), topic, group)) == GROUP_DENIED


def test_agency_cannot_use_a_transactional_id(secured: Secured) -> None:
    """A transactional producer, even with the resolver's id, is TRANSACTIONAL_ID_AUTHORIZATION_FAILED."""
    config = client_config(secured.as_user(secured.agency))
    producer = Producer(
        {**config, "transactional.id": f"{secured.ids.resolver_transactional_id}-0"}, logger=QUIET
    )
    with pytest.raises(KafkaException) as refused:
        producer.init_transactions(15)
    assert refused.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


# --- what the agency may not do: administration ----------------------------------------------------


def test_agency_cannot_create_a_topic(secured: Secured, agency_admin: AdminClient) -> None:
    """A creating a topic, even one named like its own, is TOPIC_AUTHORIZATION_FAILED."""
    name = f"{secured.names.request(secured.agency)}-extra"
    future = agency_admin.create_topics([NewTopic(name, 1, 1)])[name]
    assert _code(admin_error(future)) == TOPIC_DENIED


def test_agency_cannot_delete_its_own_topic(secured: Secured, agency_admin: AdminClient) -> None:
    """A deleting its own request topic is TOPIC_AUTHORIZATION_FAILED."""
    name = secured.names.request(secured.agency)
    assert _code(admin_error(agency_admin.delete_topics([name])[name])) == TOPIC_DENIED


def test_agency_cannot_read_or_change_topic_configs(secured: Secured, agency_admin: AdminClient) -> None:
    """A describing or altering its request topic's configs is TOPIC_AUTHORIZATION_FAILED."""
    client, name = agency_admin, secured.names.request(secured.agency)
    shorter = ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
    described = client.describe_configs([ConfigResource(ResourceType.TOPIC, name)])
    altered = client.incremental_alter_configs(
        [ConfigResource(ResourceType.TOPIC, name, incremental_configs=[shorter])]
    )
    assert [_code(admin_error(f)) for f in [*described.values(), *altered.values()]] == [TOPIC_DENIED] * 2


def test_agency_cannot_read_or_change_broker_configs(agency_admin: AdminClient) -> None:
    """A describing or altering the broker's configs is CLUSTER_AUTHORIZATION_FAILED."""
    client = agency_admin
    threads = ConfigEntry("log.cleaner.threads", "2", incremental_operation=AlterConfigOpType.SET)
    described = client.describe_configs([ConfigResource(ResourceType.BROKER, "1")])
    altered = client.incremental_alter_configs(
        [ConfigResource(ResourceType.BROKER, "1", incremental_configs=[threads])]
    )
    assert [_code(admin_error(f)) for f in [*described.values(), *altered.values()]] == [CLUSTER_DENIED] * 2


def test_agency_cannot_grant_itself_acls(secured: Secured, agency_admin: AdminClient) -> None:
    """A creating an ACL for itself is CLUSTER_AUTHORIZATION_FAILED."""
    everything = AclBinding(
        ResourceType.TOPIC,
        secured.names.prefix,
        ResourcePatternType.PREFIXED,
        f"User:{secured.agency}",
        "*",
        AclOperation.ALL,
        AclPermissionType.ALLOW,
    )
    future = agency_admin.create_acls([everything])[everything]
    assert _code(admin_error(future)) == CLUSTER_DENIED


def test_agency_cannot_change_a_platform_password(agency_admin: AdminClient) -> None:
    """A replacing the resolver's SCRAM credentials is CLUSTER_AUTHORIZATION_FAILED."""
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    hijack = UserScramCredentialUpsertion(RESOLVER, info, b"hijacked-password")
    future = agency_admin.alter_user_scram_credentials([hijack])[RESOLVER]
    assert _code(admin_error(future)) == CLUSTER_DENIED


# --- the platform users' own limits ----------------------------------------------------------------


def test_resolver_cannot_write_the_registry(secured: Secured) -> None:
    """The resolver reads the registry but writing it is TOPIC_AUTHORIZATION_FAILED."""
    assert _code(produce_error(secured.as_user(RESOLVER), f"{secured.names.prefix}.registry")) == TOPIC_DENIED


def test_audit_cannot_forge_a_response(secured: Secured) -> None:
    """The audit consumer reads response topics but writing one is TOPIC_AUTHORIZATION_FAILED."""
    assert (
        _code(produce_error(secured.as_user(AUDIT), secured.names.response(secured.agency))) == TOPIC_DENIED
    )


def test_registry_cannot_read_requests(secured: Secured) -> None:
    """The registry user reading an agency's request topic is TOPIC_AUTHORIZATION_FAILED."""
    topic = secured.names.request(secured.agency)
    group = f"{secured.ids.registry_group}.probe"
    assert _code(subscribe_error(secured.as_user(REGISTRY), topic, group)) == TOPIC_DENIED


def test_resolver_reads_the_audit_groups_offsets_but_cannot_move_or_join_it(secured: Secured) -> None:
    """The audit gate's reads are allowed: the audit group's committed offsets (Describe) and a response
    topic past them; committing for the audit group, or joining it, is GROUP_AUTHORIZATION_FAILED."""
    resolver = secured.as_user(RESOLVER)
    topic, group = secured.names.response(secured.agency), secured.ids.audit_group
    consumer = Consumer(
        {**client_config(resolver), "group.id": group, "enable.auto.commit": False}, logger=QUIET
    )
    try:
        (committed,) = consumer.committed([TopicPartition(topic, 0)], timeout=PROBE_S)
        assert committed.error is None, committed.error
        with pytest.raises(KafkaException) as refused:
            consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        assert kafka_error(refused.value).code() == GROUP_DENIED
    finally:
        consumer.close()
    assert fetch_error(resolver, topic, group, 4.0) is None
    assert _code(subscribe_error(resolver, topic, group)) == GROUP_DENIED


# --- authentication --------------------------------------------------------------------------------


def _assert_login_refused(errors: list[KafkaError], because: str) -> None:
    refusals = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    assert refusals, errors
    assert because in refusals[0].str(), refusals[0].str()


def test_wrong_password_is_refused(secured: Secured) -> None:
    """A's id with a wrong password fails SCRAM authentication (invalid credentials)."""
    config = client_config(secured.as_user(secured.agency, password=SecretStr("not-the-secret")))
    _assert_login_refused(login_errors(config), "invalid credentials")


def test_unknown_user_is_refused(secured: Secured) -> None:
    """A user the broker never issued fails SCRAM authentication (invalid credentials)."""
    stranger = secured.as_user(secured.agency).model_copy(update={"username": "no-such-agency"})
    _assert_login_refused(login_errors(client_config(stranger)), "invalid credentials")


def test_client_without_credentials_gets_no_metadata(secured: Secured) -> None:
    """A PLAINTEXT client on the SASL port is cut off before any metadata: no anonymous access."""
    errors = login_errors({"bootstrap.servers": secured.admin.bootstrap_servers})
    codes = {error.code() for error in errors}
    # The broker drops the connection; on a loaded machine the metadata call may time out after that.
    assert codes & {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}, errors
    assert errors[-1].code() in {KafkaError._TRANSPORT, KafkaError._TIMED_OUT}, errors


def test_plain_mechanism_is_refused_on_the_client_port(secured: Secured) -> None:
    """SASL/PLAIN (the controller's mechanism) on the client port is refused: only SCRAM-SHA-512 is on."""
    config = {**client_config(secured.as_user(secured.agency)), "sasl.mechanism": "PLAIN"}
    _assert_login_refused(login_errors(config), "Unsupported SASL mechanism")


def test_controller_port_refuses_agency_credentials(secured: Secured) -> None:
    """The controller port knows only the admin's PLAIN login: A's password there is refused."""
    if os.environ.get("DANCU_TEST_SECURE_BOOTSTRAP"):
        pytest.skip("the controller port of an external cluster is unknown")
    controller = f"127.0.0.1:{SECURE_TEST_BROKER.controller_port}"
    config = {**client_config(secured.as_user(secured.agency)), "bootstrap.servers": controller}
    _assert_login_refused(login_errors({**config, "sasl.mechanism": "PLAIN"}), "Invalid username or password")


# --- rotation and termination ------------------------------------------------------------------------


def test_rotated_secret_replaces_the_old_one(secured: Secured) -> None:
    """Issuing again gives a new secret; the old one fails authentication, the new one writes."""
    rotor = secured.rotor
    old = secured.passwords[rotor]
    new = issue_agency_credentials(secured.admin, secured.names, rotor, secured.ids)
    assert new != old
    assert describe_agency_acls(secured.admin, rotor) == agency_grants(DECLARED, secured.names, rotor)
    _assert_login_refused(login_errors(client_config(secured.as_user(rotor, old))), "invalid credentials")
    assert produce_error(secured.as_user(rotor, new), secured.names.request(rotor)) is None


def test_terminated_agency_loses_its_open_session_and_cannot_log_in(secured: Secured) -> None:
    """After revocation an open producer is TOPIC_AUTHORIZATION_FAILED and a new login fails."""
    leaver, topic = secured.as_user(secured.leaver), secured.names.request(secured.leaver)
    producer = Producer({**client_config(leaver), "message.timeout.ms": 10_000}, logger=QUIET)
    reports: list[KafkaError | None] = []
    producer.produce(topic, b"before", on_delivery=lambda err, _msg: reports.append(err))
    producer.flush(15)
    revoke_agency_credentials(secured.admin, secured.names, secured.leaver)
    revoke_agency_credentials(secured.admin, secured.names, secured.leaver)  # idempotent
    producer.produce(topic, b"after", on_delivery=lambda err, _msg: reports.append(err))
    producer.flush(15)
    assert [_code(r) for r in reports] == [None, TOPIC_DENIED]
    assert describe_agency_acls(secured.admin, secured.leaver) == frozenset()
    _assert_login_refused(login_errors(client_config(leaver)), "invalid credentials")
