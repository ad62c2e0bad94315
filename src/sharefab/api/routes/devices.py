"""Device credentials of a provider's connected resources: create, rotate, revoke, list."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from sharefab.api.deps import CurrentUser, SessionDep
from sharefab.api.schemas.common import PROBLEM_RESPONSES, IdPath
from sharefab.api.schemas.iot import (
    CredentialRequest,
    DeviceCredentialIssued,
    DeviceCredentialPublic,
    DeviceCredentialsPublic,
)
from sharefab.iot import devices as service
from sharefab.iot.mqtt import telemetry_topic

router = APIRouter(prefix="/resources", tags=["devices"], responses=PROBLEM_RESPONSES)


def _issued(cred: service.IssuedCredential) -> DeviceCredentialIssued:
    return DeviceCredentialIssued(
        id=cred.id,
        resource_id=cred.resource_id,
        key_id=cred.key_id,
        secret=cred.secret,
        http_authorization=f"{service.TOKEN_SCHEME} {cred.token}",
        mqtt_username=str(cred.resource_id),
        mqtt_topic=telemetry_topic(cred.resource_id),
        created_at=cred.created_at,
    )


@router.get("/{resource_id}/device-credentials")
def list_device_credentials(
    resource_id: IdPath, session: SessionDep, user: CurrentUser
) -> DeviceCredentialsPublic:
    """Credentials of the caller's resource (secrets are never shown again)."""
    creds = service.list_credentials(session, user, resource_id)
    return DeviceCredentialsPublic(
        data=[DeviceCredentialPublic.model_validate(c) for c in creds], count=len(creds)
    )


@router.post("/{resource_id}/device-credentials", status_code=status.HTTP_201_CREATED)
def create_device_credential(
    resource_id: IdPath,
    session: SessionDep,
    user: CurrentUser,
    body: CredentialRequest | None = None,
) -> DeviceCredentialIssued:
    """Issue the resource's device credential (409 while one is active: rotate instead)."""
    label = body.label if body else ""
    return _issued(service.create_credential(session, user, resource_id, label=label))


@router.post("/{resource_id}/device-credentials/rotate", status_code=status.HTTP_201_CREATED)
def rotate_device_credential(
    resource_id: IdPath,
    session: SessionDep,
    user: CurrentUser,
    body: CredentialRequest | None = None,
) -> DeviceCredentialIssued:
    """Revoke the active credential and issue a new one in one step."""
    label = body.label if body else ""
    return _issued(service.rotate_credential(session, user, resource_id, label=label))


@router.delete("/{resource_id}/device-credentials", status_code=status.HTTP_204_NO_CONTENT)
def revoke_device_credential(
    resource_id: IdPath, session: SessionDep, user: CurrentUser
) -> Response:
    """Revoke the active credential: the device can no longer report."""
    service.revoke_credential(session, user, resource_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
