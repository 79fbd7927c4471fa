"""The AWS resources of one burst cluster, declared from its normalised cluster file."""

from __future__ import annotations

import ipaddress
import json
import math
from decimal import Decimal

import pulumi
import pulumi_aws as aws
from ansible_collections.burst.cluster.plugins.module_utils.stack_outputs import host_plan

EC2_ASSUME_ROLE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def declare(config: dict, public_key: str) -> dict:
    """Declare the cluster's resources; return its stack outputs (values may be Outputs)."""
    if config.get("provider") != "aws":
        raise ValueError(
            f"provider: {config.get('provider')!r} — burst's Pulumi program makes aws clusters only"
        )
    name, settings = config["name"], config["aws"]
    region, user = settings["region"], settings["ssh_user"]
    provider = aws.Provider(
        f"{name}-aws",
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags={"burst:cluster": name}),
    )
    opts = pulumi.ResourceOptions(provider=provider)

    key = aws.ec2.KeyPair(f"{name}-key", public_key=public_key, opts=opts)
    group = security_group(name, settings["ssh_cidr"], opts)
    ami = ami_id(settings["ami"], provider)
    profile = source_reader_profile(name, config["source"], opts)
    # Powering off ends the instance (shutdown behaviour terminate), so no machine outlives
    # max_lifetime, whatever happens to the controller.
    user_data = f"#!/bin/sh\nshutdown -P +{math.ceil(settings['max_lifetime'] / 60)}\n"

    instances = {}
    for host, role in host_plan(config):
        instances[host] = aws.ec2.Instance(
            host,
            ami=ami,
            instance_type=settings["instance_type"],
            key_name=key.key_name,
            vpc_security_group_ids=[group.id],
            associate_public_ip_address=True,
            iam_instance_profile=profile.name if profile and role == "metrics_host" else None,
            instance_initiated_shutdown_behavior="terminate",
            instance_market_options=market_options(settings["spot"]),
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required"),
            user_data=user_data,
            tags={"Name": host, "burst:cluster": name, "burst:role": role},
            opts=opts,
        )

    topic = aws.sns.Topic(f"{name}-alarms", opts=opts)
    alerts = settings["alerts"]
    endpoints = [("sms", n) for n in alerts["sms"]] + [("email", a) for a in alerts["email"]]
    for index, (protocol, endpoint) in enumerate(endpoints):
        aws.sns.TopicSubscription(
            f"{name}-alert-{index}",
            topic=topic.arn,
            protocol=protocol,
            endpoint=endpoint,
            opts=opts,
        )
    for host, instance in instances.items():
        aws.cloudwatch.MetricAlarm(
            f"{host}-status",
            alarm_description=f"burst cluster {name}: {host} fails its EC2 status checks",
            namespace="AWS/EC2",
            metric_name="StatusCheckFailed",
            dimensions={"InstanceId": instance.id},
            statistic="Maximum",
            period=60,
            evaluation_periods=2,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            alarm_actions=[topic.arn],
            opts=opts,
        )
    dashboard = aws.cloudwatch.Dashboard(
        f"{name}-dashboard",
        dashboard_name=f"burst-{name}",
        dashboard_body=dashboard_body(region, instances),
        opts=opts,
    )

    return {
        "cluster": name,
        "provider": "aws",
        "ssh_user": user,
        "ssh_key": None,
        "dashboard_url": pulumi.Output.concat(
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}",
            "#dashboards:name=",
            dashboard.dashboard_name,
        ),
        "alarm_topic": topic.arn,
        "hosts": [
            {
                "name": host,
                "role": role,
                "instance_id": instances[host].id,
                "private_ip": instances[host].private_ip,
                # A VPC without DNS host names gives no public DNS name; the address serves.
                "public_dns": pulumi.Output.all(
                    instances[host].public_dns, instances[host].public_ip
                ).apply(lambda names: names[0] or names[1]),
                "workdir": f"/home/{user}/burst",
            }
            for host, role in host_plan(config)
        ],
    }


def security_group(name: str, ssh_cidr: str, opts: pulumi.ResourceOptions) -> aws.ec2.SecurityGroup:
    """Hosts reach each other on every TCP port; SSH only from ssh_cidr; nothing else inbound."""
    network = ipaddress.ip_network(ssh_cidr)
    blocks = "ipv6_cidr_blocks" if network.version == 6 else "cidr_blocks"
    return aws.ec2.SecurityGroup(
        f"{name}-sg",
        description=f"burst cluster {name}",
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                description="cluster hosts to each other",
                protocol="tcp",
                from_port=0,
                to_port=65535,
                self=True,
            ),
            aws.ec2.SecurityGroupIngressArgs(
                description="SSH from aws.ssh_cidr",
                protocol="tcp",
                from_port=22,
                to_port=22,
                **{blocks: [str(network)]},
            ),
        ],
        egress=[
            aws.ec2.SecurityGroupEgressArgs(
                description="packages and the row source",
                protocol="-1",
                from_port=0,
                to_port=0,
                cidr_blocks=["0.0.0.0/0"],
                ipv6_cidr_blocks=["::/0"],
            )
        ],
        opts=opts,
    )


def ami_id(ami: str | dict, provider: aws.Provider) -> pulumi.Input[str]:
    """The AMI id as given, or the newest x86_64 image of the owner matching the name."""
    if isinstance(ami, str):
        return ami
    return aws.ec2.get_ami_output(
        most_recent=True,
        owners=[ami["owner"]],
        filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=[ami["name"]]),
            aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
        ],
        opts=pulumi.InvokeOutputOptions(provider=provider),
    ).id


def market_options(spot: bool | dict) -> aws.ec2.InstanceInstanceMarketOptionsArgs | None:
    """Spot options for aws.spot: None when on-demand; max_price only when given."""
    if spot is False:
        return None
    max_price = format(Decimal(str(spot["max_price"])), "f") if isinstance(spot, dict) else None
    return aws.ec2.InstanceInstanceMarketOptionsArgs(
        market_type="spot",
        spot_options=aws.ec2.InstanceInstanceMarketOptionsSpotOptionsArgs(
            spot_instance_type="one-time",
            instance_interruption_behavior="terminate",
            max_price=max_price,
        ),
    )


def source_reader_profile(
    name: str, source: dict, opts: pulumi.ResourceOptions
) -> aws.iam.InstanceProfile | None:
    """For an s3 source, an instance profile that may read that one object and nothing else."""
    if source["kind"] != "s3":
        return None
    role = aws.iam.Role(f"{name}-source-reader", assume_role_policy=EC2_ASSUME_ROLE, opts=opts)
    aws.iam.RolePolicy(
        f"{name}-source-read",
        role=role.id,
        policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::" + source["url"][len("s3://") :],
                    }
                ],
            }
        ),
        opts=opts,
    )
    return aws.iam.InstanceProfile(f"{name}-source-reader", role=role.name, opts=opts)


def dashboard_body(region: str, instances: dict[str, aws.ec2.Instance]) -> pulumi.Output[str]:
    """A CPU utilisation widget per instance, three to a row."""
    hosts = list(instances)

    def body(ids: list[str]) -> str:
        widgets = [
            {
                "type": "metric",
                "x": 8 * (index % 3),
                "y": 6 * (index // 3),
                "width": 8,
                "height": 6,
                "properties": {
                    "title": f"{host} CPU",
                    "region": region,
                    "view": "timeSeries",
                    "stat": "Average",
                    "period": 60,
                    "metrics": [["AWS/EC2", "CPUUtilization", "InstanceId", instance_id]],
                },
            }
            for index, (host, instance_id) in enumerate(zip(hosts, ids, strict=True))
        ]
        return json.dumps({"widgets": widgets})

    return pulumi.Output.all(*(instance.id for instance in instances.values())).apply(body)
