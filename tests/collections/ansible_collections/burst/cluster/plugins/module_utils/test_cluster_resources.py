"""burst's Pulumi program, run on Pulumi's mock runtime: what it would ask AWS for."""

from __future__ import annotations

import json

import pulumi
import pytest
from ansible_collections.burst.cluster.plugins.module_utils import (
    cluster_config,
    cluster_resources,
    pulumi_stack,
    sizing,
    stack_outputs,
)
from pulumi_mocks import GET_AMI, INSTANCE, LOOKED_UP_AMI, RecordingMocks, resolve

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockMockMockMockMockMockMockMockMockMock burst-t"
SSH_CIDR = "203.0.113.7/32"
WORLD = {"0.0.0.0/0", "::/0"}
SIZES = [1, 3, 16]


@pytest.fixture
def mocks():
    """A fresh mock runtime: no resources, exports or config left from another test."""
    pulumi.runtime.reset_options()
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="burst", stack="test", preview=False)
    yield recorder
    pulumi.runtime.set_all_config({})
    pulumi.runtime.reset_options()


def aws_config(tmp_path, size=1, source=None, job=None, **aws):
    """A normalised cluster config from the real loader, with provider aws."""
    data = {
        "name": "tc",
        "provider": "aws",
        "size": size,
        "job": job or {"timeout": 300},
        "aws": {"ssh_cidr": SSH_CIDR, **aws},
    }
    if source is not None:
        data["source"] = source
    return cluster_config.validate_config(data, tmp_path)


def declare(mocks, config) -> dict:
    """The resolved outputs of ``declare``; the mocks hold what was declared."""
    return resolve(lambda: cluster_resources.declare(config, PUBLIC_KEY))


def exports(program) -> dict:
    """What ``program`` exports, resolved."""

    def run_program():
        program()
        return pulumi.runtime.get_root_resource().outputs

    return resolve(run_program)


def one(mocks, typ):
    [resource] = mocks.of_type(typ)
    return resource


def machines(mocks, config) -> dict[str, dict]:
    """Inputs of every instance, in host_plan order; fails unless they are the plan's machines."""
    declared = mocks.instances()
    plan = [name for name, _ in stack_outputs.host_plan(config)]
    assert sorted(declared) == sorted(plan)
    return {name: declared[name] for name in plan}


def instance_id(mocks, name):
    return mocks.states[INSTANCE, name]["id"]


@pytest.mark.parametrize("size", SIZES)
def test_one_machine_per_host_of_the_plan(mocks, tmp_path, size):
    config = aws_config(tmp_path, size=size)
    declare(mocks, config)
    declared = mocks.instances()
    assert len(declared) == size + 1
    roles = {name: inputs["tags"]["burst:role"] for name, inputs in declared.items()}
    workers = {f"tc-{index}": "worker" for index in range(1, size)}
    assert roles == {"tc-0": "initializer", **workers, "tc-metrics": "metrics_host"}


@pytest.mark.parametrize("size", SIZES)
def test_every_machine_is_tagged_with_its_name_cluster_and_role(mocks, tmp_path, size):
    config = aws_config(tmp_path, size=size)
    declare(mocks, config)
    tags = {name: inputs["tags"] for name, inputs in machines(mocks, config).items()}
    assert tags == {
        name: {"Name": name, "burst:cluster": "tc", "burst:role": role}
        for name, role in stack_outputs.host_plan(config)
    }


def test_every_resource_goes_through_one_provider_in_the_files_region(mocks, tmp_path):
    config = aws_config(tmp_path, size=3, region="eu-central-1")
    declare(mocks, config)
    provider = one(mocks, "pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-central-1"
    provider_id = mocks.states[provider.typ, "tc-aws"]["id"]
    reference = (
        f"urn:pulumi:test::burst::pulumi:pulumi:Stack$pulumi:providers:aws::tc-aws::{provider_id}"
    )
    others = [r for r in mocks.resources if r is not provider]
    assert len(others) == 1 + 1 + 4 + 1 + 4 + 1  # key, group, machines, topic, alarms, dashboard
    assert {r.provider for r in others} == {reference}


def test_instance_type_and_ami_id_come_from_the_file(mocks, tmp_path):
    config = aws_config(tmp_path, size=3, instance_type="t3.large", ami="ami-0123456789abcdef0")
    declare(mocks, config)
    for inputs in machines(mocks, config).values():
        assert inputs["instanceType"] == "t3.large"
        assert inputs["ami"] == "ami-0123456789abcdef0"
    assert mocks.calls == []


@pytest.mark.parametrize(
    ("ami", "owner", "name"),
    [
        (None, "099720109477", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"),
        (
            {"owner": "136693071363", "name": "debian-12-amd64-*"},
            "136693071363",
            "debian-12-amd64-*",
        ),
    ],
)
def test_without_an_ami_id_the_newest_matching_image_is_looked_up(
    mocks, tmp_path, ami, owner, name
):
    config = aws_config(tmp_path, size=3, **({"ami": ami} if ami else {}))
    declare(mocks, config)
    [call] = mocks.calls
    assert call.token == GET_AMI
    assert call.args["owners"] == [owner]
    assert call.args["mostRecent"] is True
    filters = {f["name"]: f["values"] for f in call.args["filters"]}
    assert filters == {"name": [name], "architecture": ["x86_64"]}
    assert {inputs["ami"] for inputs in machines(mocks, config).values()} == {LOOKED_UP_AMI}
    assert call.provider.endswith(mocks.states["pulumi:providers:aws", "tc-aws"]["id"])


def test_key_pair_holds_the_public_key_and_every_machine_uses_it(mocks, tmp_path):
    config = aws_config(tmp_path, size=3)
    declare(mocks, config)
    key = one(mocks, "aws:ec2/keyPair:KeyPair")
    assert key.inputs["publicKey"] == PUBLIC_KEY
    key_name = mocks.states[key.typ, key.name]["keyName"]
    assert {inputs["keyName"] for inputs in machines(mocks, config).values()} == {key_name}


def _ingress(mocks, config) -> list[dict]:
    group = one(mocks, "aws:ec2/securityGroup:SecurityGroup")
    group_id = mocks.states[group.typ, group.name]["id"]
    for inputs in machines(mocks, config).values():
        assert inputs["vpcSecurityGroupIds"] == [group_id]
        assert inputs["associatePublicIpAddress"] is True
    return group.inputs["ingress"]


@pytest.mark.parametrize(
    ("cidr", "blocks", "other"),
    [
        (SSH_CIDR, "cidrBlocks", "ipv6CidrBlocks"),
        ("2001:db8:1234::/48", "ipv6CidrBlocks", "cidrBlocks"),
    ],
)
def test_ssh_is_open_only_to_ssh_cidr_and_the_hosts_only_to_each_other(
    mocks, tmp_path, cidr, blocks, other
):
    config = aws_config(tmp_path, size=3, ssh_cidr=cidr)
    declare(mocks, config)
    ingress = _ingress(mocks, config)
    for rule in ingress:
        assert not WORLD & set(rule.get("cidrBlocks", []) + rule.get("ipv6CidrBlocks", []))
    [intra] = [rule for rule in ingress if rule.get("self")]
    assert (intra["protocol"], intra["fromPort"], intra["toPort"]) == ("tcp", 0, 65535)
    assert not intra.get("cidrBlocks") and not intra.get("ipv6CidrBlocks")
    [ssh] = [rule for rule in ingress if not rule.get("self")]
    assert (ssh["protocol"], ssh["fromPort"], ssh["toPort"]) == ("tcp", 22, 22)
    assert ssh[blocks] == [cidr]
    assert other not in ssh


def test_machines_may_reach_anything_outbound(mocks, tmp_path):
    config = aws_config(tmp_path)
    declare(mocks, config)
    [egress] = one(mocks, "aws:ec2/securityGroup:SecurityGroup").inputs["egress"]
    assert egress["protocol"] == "-1"
    assert (egress["cidrBlocks"], egress["ipv6CidrBlocks"]) == (["0.0.0.0/0"], ["::/0"])


@pytest.mark.parametrize(("lifetime", "minutes"), [(900, 15), (7200, 120), (7201, 121)])
def test_every_machine_powers_off_and_terminates_after_max_lifetime(
    mocks, tmp_path, lifetime, minutes
):
    config = aws_config(tmp_path, size=3, max_lifetime=lifetime)
    declare(mocks, config)
    for inputs in machines(mocks, config).values():
        script = inputs["userData"]
        assert script.startswith("#!/bin/sh\n")
        assert f"\nshutdown -P +{minutes}\n" in script
        assert inputs["instanceInitiatedShutdownBehavior"] == "terminate"


SPOT = {"marketType": "spot"}
SPOT_OPTIONS = {"spotInstanceType": "one-time", "instanceInterruptionBehavior": "terminate"}


@pytest.mark.parametrize(
    ("spot", "expected"),
    [
        (False, None),
        (True, {**SPOT, "spotOptions": SPOT_OPTIONS}),
        ({"max_price": 0.0312}, {**SPOT, "spotOptions": {**SPOT_OPTIONS, "maxPrice": "0.0312"}}),
        ({"max_price": 2}, {**SPOT, "spotOptions": {**SPOT_OPTIONS, "maxPrice": "2"}}),
    ],
)
def test_spot_options_follow_aws_spot(mocks, tmp_path, spot, expected):
    config = aws_config(tmp_path, size=3, spot=spot)
    declare(mocks, config)
    for inputs in machines(mocks, config).values():
        assert inputs.get("instanceMarketOptions") == expected


def test_an_s3_source_may_be_read_by_the_metrics_host_only(mocks, tmp_path):
    source = {"kind": "s3", "url": "s3://rows-bucket/daily/rows.csv"}
    config = aws_config(tmp_path, size=3, source=source)
    declare(mocks, config)
    role = one(mocks, "aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]
    policy = one(mocks, "aws:iam/rolePolicy:RolePolicy")
    assert policy.inputs["role"] == mocks.states[role.typ, role.name]["id"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::rows-bucket/daily/rows.csv",
        }
    ]
    profile = one(mocks, "aws:iam/instanceProfile:InstanceProfile")
    assert profile.inputs["role"] == mocks.states[role.typ, role.name]["name"]
    profile_name = mocks.states[profile.typ, profile.name]["name"]
    assigned = {
        name: inputs.get("iamInstanceProfile") for name, inputs in machines(mocks, config).items()
    }
    assert assigned == {"tc-0": None, "tc-1": None, "tc-2": None, "tc-metrics": profile_name}


@pytest.mark.parametrize("kind", ["synthetic", "file"])
def test_other_sources_give_the_machines_no_aws_role(mocks, tmp_path, kind):
    (tmp_path / "rows.csv").write_text("text\nhello\n")
    source = {"kind": kind, **({"path": "rows.csv"} if kind == "file" else {})}
    config = aws_config(tmp_path, size=3, source=source)
    declare(mocks, config)
    assert not [r for r in mocks.resources if r.typ.startswith("aws:iam/")]
    assert all("iamInstanceProfile" not in inputs for inputs in machines(mocks, config).values())


@pytest.mark.parametrize("size", SIZES)
def test_each_machine_has_a_status_alarm_that_publishes_to_the_topic(mocks, tmp_path, size):
    config = aws_config(tmp_path, size=size)
    outputs = declare(mocks, config)
    topic = one(mocks, "aws:sns/topic:Topic")
    topic_arn = mocks.states[topic.typ, topic.name]["arn"]
    assert outputs["alarm_topic"] == topic_arn
    alarms = mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    watched = [alarm.inputs["dimensions"]["InstanceId"] for alarm in alarms]
    assert sorted(watched) == sorted(instance_id(mocks, name) for name in machines(mocks, config))
    for alarm in alarms:
        inputs = alarm.inputs
        assert (inputs["namespace"], inputs["metricName"]) == ("AWS/EC2", "StatusCheckFailed")
        assert inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert inputs["threshold"] == 1
        assert inputs["period"] * inputs["evaluationPeriods"] == 120
        assert inputs["alarmActions"] == [topic_arn]


def test_alerts_subscribe_every_number_and_address_to_the_topic(mocks, tmp_path):
    alerts = {"sms": ["+15555550123", "+447700900123"], "email": ["oncall@example.com"]}
    config = aws_config(tmp_path, alerts=alerts)
    declare(mocks, config)
    topic = one(mocks, "aws:sns/topic:Topic")
    subscriptions = mocks.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert {(s.inputs["protocol"], s.inputs["endpoint"]) for s in subscriptions} == {
        ("sms", "+15555550123"),
        ("sms", "+447700900123"),
        ("email", "oncall@example.com"),
    }
    assert len(subscriptions) == 3
    assert {s.inputs["topic"] for s in subscriptions} == {
        mocks.states[topic.typ, topic.name]["arn"]
    }


def test_no_alerts_no_subscriptions(mocks, tmp_path):
    config = aws_config(tmp_path)
    declare(mocks, config)
    assert mocks.of_type("aws:sns/topicSubscription:TopicSubscription") == []
    assert len(mocks.of_type("aws:sns/topic:Topic")) == 1


@pytest.mark.parametrize("size", [1, 16])
def test_the_dashboard_charts_every_machines_cpu(mocks, tmp_path, size):
    config = aws_config(tmp_path, size=size, region="ap-southeast-2")
    outputs = declare(mocks, config)
    dashboard = one(mocks, "aws:cloudwatch/dashboard:Dashboard")
    assert dashboard.inputs["dashboardName"] == "burst-tc"
    widgets = json.loads(dashboard.inputs["dashboardBody"])["widgets"]
    metrics = [w["properties"]["metrics"] for w in widgets]
    ids = [instance_id(mocks, name) for name in machines(mocks, config)]
    assert metrics == [[["AWS/EC2", "CPUUtilization", "InstanceId", i]] for i in ids]
    assert {w["properties"]["region"] for w in widgets} == {"ap-southeast-2"}
    assert all(w["x"] + w["width"] <= 24 for w in widgets)
    assert len({(w["x"], w["y"]) for w in widgets}) == len(widgets)
    assert outputs["dashboard_url"] == (
        "https://ap-southeast-2.console.aws.amazon.com/cloudwatch/home"
        "?region=ap-southeast-2#dashboards:name=burst-tc"
    )


@pytest.mark.parametrize("size", SIZES)
def test_outputs_keep_the_contract(mocks, tmp_path, size):
    config = aws_config(tmp_path, size=size, ssh_user="admin")
    outputs = declare(mocks, config)
    assert tuple(outputs) == stack_outputs.TOP_KEYS
    assert outputs["ssh_key"] is None
    stack_outputs.check({**outputs, "ssh_key": "/keys/tc_ed25519"})
    assert (outputs["cluster"], outputs["provider"], outputs["ssh_user"]) == ("tc", "aws", "admin")
    expected = []
    for name, role in stack_outputs.host_plan(config):
        state = mocks.states[INSTANCE, name]
        expected.append(
            {
                "name": name,
                "role": role,
                "instance_id": state["id"],
                "private_ip": state["privateIp"],
                "public_dns": state["publicDns"],
                "workdir": "/home/admin/burst",
            }
        )
    assert outputs["hosts"] == expected
    assert len({host["private_ip"] for host in outputs["hosts"]}) == size + 1


def test_without_a_public_dns_name_the_public_address_serves(mocks, tmp_path):
    mocks.public_dns = False
    config = aws_config(tmp_path, size=3)
    outputs = declare(mocks, config)
    addresses = [mocks.states[INSTANCE, host["name"]]["publicIp"] for host in outputs["hosts"]]
    assert [host["public_dns"] for host in outputs["hosts"]] == addresses
    assert all(addresses)


def test_a_config_for_another_provider_is_refused(mocks, tmp_path):
    config = cluster_config.validate_config({"name": "tc", "provider": "local"}, tmp_path)
    with pytest.raises(ValueError, match="provider: 'local'"):
        cluster_resources.declare(config, PUBLIC_KEY)
    assert mocks.resources == []


CLUSTER_FILE = """\
name: fromfile
provider: aws
size: 3
job: {timeout: 600}
aws:
  region: eu-west-1
  ami: ami-0123456789abcdef0
  ssh_cidr: 198.51.100.0/24
"""


def test_the_program_exports_the_outputs_of_the_cluster_file(mocks, tmp_path):
    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text(CLUSTER_FILE)
    program = pulumi_stack.program(cluster_config.load_cluster_file(cluster_file), PUBLIC_KEY)
    exported = exports(program)
    assert tuple(exported) == stack_outputs.TOP_KEYS
    assert [host["name"] for host in exported["hosts"]] == [
        "fromfile-0",
        "fromfile-1",
        "fromfile-2",
        "fromfile-metrics",
    ]
    assert exported["hosts"][0]["instance_id"] == mocks.states[INSTANCE, "fromfile-0"]["id"]
    stack_outputs.check({**exported, "ssh_key": "/keys/fromfile_ed25519"})
    assert one(mocks, "aws:ec2/keyPair:KeyPair").inputs["publicKey"] == PUBLIC_KEY
    assert one(mocks, "pulumi:providers:aws").inputs["region"] == "eu-west-1"
    ingress = one(mocks, "aws:ec2/securityGroup:SecurityGroup").inputs["ingress"]
    [ssh] = [rule for rule in ingress if not rule.get("self")]
    assert ssh["cidrBlocks"] == ["198.51.100.0/24"]


def test_the_program_makes_the_size_sizing_picked_for_size_auto(mocks, tmp_path):
    cluster_file = tmp_path / "cluster.yaml"
    auto = CLUSTER_FILE.replace("size: 3", "size: auto").replace(
        "{timeout: 600}", "{deadline: 45m}"
    )
    cluster_file.write_text(auto)
    config = cluster_config.load_cluster_file(cluster_file)
    assert config["size"] == "auto"
    program = pulumi_stack.program(sizing.sized(config, {"config": {"size": 2}}), PUBLIC_KEY)
    exported = exports(program)
    names = [host["name"] for host in exported["hosts"]]
    assert names == ["fromfile-0", "fromfile-1", "fromfile-metrics"]
