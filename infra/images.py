"""Which machine image each cloud and platform boots, in one table (pure: no cloud SDK imported).

AWS: AMI ids differ per region, so the program looks the image up in the stack's region when
`fastdata:image` is not set: the newest AMI the OS publisher's own account published whose name matches
(the way dcos-terraform's tested-OS module and the Pulumi AWS examples do it). Azure: marketplace
references are the same in every location, so they are plain defaults. Setting `fastdata:image` pins the
image on either cloud.

DC/OS 2.2 supports CentOS/RHEL 7 and Flatcar only (docs/reference/dcos-mesos.md 0): CentOS 7.9, EOL since
June 2024, is
the one free image of those on both clouds; yum needs the vault mirrors (handled by the dcos role).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.schema import Platform


@dataclass(frozen=True)
class AmiLookup:
    os: str  # what the user is told
    owner: str  # the publisher's AWS account id
    name: str  # EC2 name filter (wildcards)
    architecture: str = "x86_64"  # the default instance types (m5, t3) are x86_64

    def filters(self) -> dict[str, str]:
        """EC2 DescribeImages filters, name -> value."""
        return {
            "name": self.name,
            "architecture": self.architecture,
            "virtualization-type": "hvm",
            "root-device-type": "ebs",
        }

    def describe_images_command(self, region: str) -> str:
        """The AWS CLI command that finds the same image, for messages and docs."""
        filters = " ".join(f"'Name={k},Values={v}'" for k, v in self.filters().items())
        return (
            f"aws ec2 describe-images --region {region} --owners {self.owner} --filters {filters} "
            "--query 'sort_by(Images,&CreationDate)[-1].ImageId'"
        )


_DEBIAN_12 = AmiLookup("Debian 12", "136693071363", "debian-12-amd64-*")  # Debian's cloud team account
# The CentOS project's account. Subscribe to the image in the AWS Marketplace first, or `pulumi up` fails
# with OptInRequired (a known issue in dcos-terraform's terraform-aws-infrastructure).
_CENTOS_7 = AmiLookup("CentOS 7", "125523088429", "CentOS Linux 7*x86_64*")

# cloud -> platform -> what to boot when fastdata:image is not set
AMI_LOOKUPS: dict[Platform, AmiLookup] = {
    Platform.STANDALONE: _DEBIAN_12,
    Platform.MESOS: _DEBIAN_12,
    Platform.DCOS: _CENTOS_7,
}
AZURE_IMAGES: dict[Platform, str] = {
    Platform.STANDALONE: "Debian:debian-12:12-gen2:latest",
    Platform.MESOS: "Debian:debian-12:12-gen2:latest",
    Platform.DCOS: "OpenLogic:CentOS:7_9-gen2:latest",
}
LOCAL_IMAGE = "debian-12"  # the debootstrap-built base of infra/lxc.py
