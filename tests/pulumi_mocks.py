"""Pulumi's mock runtime for burst's Pulumi program: an engine stand-in that records."""

import hashlib
import threading

import pulumi

INSTANCE = "aws:ec2/instance:Instance"
GET_AMI = "aws:ec2/getAmi:getAmi"
LOOKED_UP_AMI = "ami-0fedcba9876543210"
ACCOUNT = "123456789012"


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers as AWS would (ids, ARNs, addresses) and records every resource and call."""

    def __init__(self):
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.calls: list[pulumi.runtime.MockCallArgs] = []
        self.states: dict[tuple[str, str], dict] = {}
        self.public_dns = True
        self._lock = threading.Lock()

    def new_resource(self, args):
        with self._lock:
            index = len(self.resources)
            self.resources.append(args)
        digest = hashlib.sha256(f"{args.typ}/{args.name}".encode()).hexdigest()
        resource_id = f"{args.name}-{digest[:8]}"
        # What the provider computes: auto-names and ARNs, unless the program gave them.
        state = {"name": args.name, "arn": f"arn:aws:mock:::{args.name}", **args.inputs}
        if args.typ == "aws:ec2/keyPair:KeyPair":
            state.setdefault("keyName", f"{args.name}-{digest[:7]}")
        elif args.typ == "aws:sns/topic:Topic":
            state["arn"] = f"arn:aws:sns:mock-region:{ACCOUNT}:{args.name}-{digest[:7]}"
        elif args.typ == INSTANCE:
            resource_id = "i-" + digest[:17]
            state["privateIp"] = f"10.77.{index // 200}.{index % 200 + 10}"
            state["publicIp"] = f"203.0.113.{index % 200 + 10}"
            state["publicDns"] = f"ec2-{index}.mock.amazonaws.com" if self.public_dns else ""
        self.states[args.typ, args.name] = {"id": resource_id, **state}
        return resource_id, state

    def call(self, args):
        self.calls.append(args)
        if args.token == GET_AMI:
            return {"id": LOOKED_UP_AMI, "architecture": "x86_64"}
        raise NotImplementedError(f"no mock for {args.token}")

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [resource for resource in self.resources if resource.typ == typ]

    def instances(self) -> dict[str, dict]:
        """Inputs of every instance by resource name (the engine's order, not the program's)."""
        return {resource.name: resource.inputs for resource in self.of_type(INSTANCE)}


def resolve(program):
    """Run ``program`` under the mocks; return what it returns with every Output resolved."""
    resolved = []

    @pulumi.runtime.test
    def run():
        return pulumi.Output.from_input(program()).apply(resolved.append)

    run()
    assert resolved, "the program's outputs never resolved"
    return resolved[0]
