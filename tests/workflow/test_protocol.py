"""A submission's receipt as the AgID ``SegnaturaInformatica``, validated against AgID's own schema.

The engine renders the segnatura unsigned: the AOO's signing service appends
the ``ds:Signature`` the schema requires. The test plays that service with a
plain enveloped XML Signature (HMAC-SHA256 over the canonical XML; the real one
is XAdES with a qualified seal, which only the AOO holds), so that the whole
document meets the schema; and the unsigned one fails on that element only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from tests.factories import World
from workflow.errors import ConfigurationError, InvalidInput, NotFound
from workflow.protocol import NAMESPACE, Administration, impronta, segnatura

etree = pytest.importorskip("lxml.etree")

SCHEMA = Path(__file__).parent.parent / "fixtures" / "segnatura" / "segnatura_protocollo.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
REGION = Administration(ipa="r_lombar", aoo="AOO_RL", name="Regione Lombardia")


def _schema() -> object:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def _signed(xml: bytes) -> bytes:
    """What the AOO's signing service does, in its simplest schema-valid form."""
    root = etree.fromstring(xml)
    digest = base64.b64encode(hashlib.sha256(etree.tostring(root, method="c14n")).digest()).decode()
    signature = etree.SubElement(root, f"{{{DS}}}Signature", nsmap={"ds": DS})
    info = etree.SubElement(signature, f"{{{DS}}}SignedInfo")
    etree.SubElement(
        info, f"{{{DS}}}CanonicalizationMethod", Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    )
    etree.SubElement(
        info, f"{{{DS}}}SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
    )
    reference = etree.SubElement(info, f"{{{DS}}}Reference", URI="")
    transforms = etree.SubElement(reference, f"{{{DS}}}Transforms")
    etree.SubElement(
        transforms, f"{{{DS}}}Transform", Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    )
    etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(reference, f"{{{DS}}}DigestValue").text = digest
    value = hmac.new(b"test seal", etree.tostring(info, method="c14n"), hashlib.sha256).digest()
    etree.SubElement(signature, f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")  # type: ignore[no-any-return]


def test_a_submission_segnatura_validates_against_the_schema(world: World) -> None:
    world.open_call()
    world.at(2022, 9, 10, 23, 30)  # 21:30 UTC: the date is Rome's, not UTC's
    proposal = world.submitted()
    data = world.engine.get("proposal", proposal).data
    xml = segnatura(world.engine, proposal, REGION)
    schema = _schema()
    document = etree.fromstring(_signed(xml))
    assert schema.validate(document), schema.error_log  # type: ignore[attr-defined]
    p = {"p": NAMESPACE}
    assert (
        document.findtext("p:Intestazione/p:Identificatore/p:CodiceAmministrazione", namespaces=p)
        == "r_lombar"
    )
    assert document.findtext("p:Intestazione/p:Identificatore/p:CodiceAOO", namespaces=p) == "AOO_RL"
    number = document.findtext("p:Intestazione/p:Identificatore/p:NumeroRegistrazione", namespaces=p)
    assert number == f"{data['protocol_number']:07d}"
    assert (
        document.findtext("p:Intestazione/p:Identificatore/p:DataRegistrazione", namespaces=p) == "2022-09-10"
    )
    assert document.findtext("p:Intestazione/p:Identificatore/p:OraRegistrazione", namespaces=p) == "23:30:00"
    stamp = document.find("p:Descrizione/p:DocumentoPrimario/p:Impronta", namespaces=p)
    assert base64.b64decode(stamp.text).hex() == data["receipt"]["sha256"]
    assert stamp.text == impronta(data["receipt"]["sha256"])


def test_the_unsigned_segnatura_lacks_only_the_signature(world: World) -> None:
    """The schema is really applied: without the AOO's signature it fails, on ds:Signature."""
    world.open_call()
    proposal = world.submitted()
    schema = _schema()
    assert not schema.validate(etree.fromstring(segnatura(world.engine, proposal, REGION)))  # type: ignore[attr-defined]
    messages = [e.message for e in schema.error_log]  # type: ignore[attr-defined]
    assert len(messages) == 1
    assert "Signature" in messages[0]


def test_a_draft_has_no_segnatura_and_nothing_is_written(world: World) -> None:
    world.open_call()
    draft = world.draft()
    before = len(list(world.engine.events()))
    with pytest.raises(InvalidInput):
        segnatura(world.engine, draft, REGION)
    with pytest.raises(NotFound):
        segnatura(world.engine, "P-999999", REGION)
    assert len(list(world.engine.events())) == before


def test_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILIERE_IPA_CODE", "r_lombar")
    monkeypatch.setenv("FILIERE_AOO_CODE", "AOO_RL")
    monkeypatch.setenv("FILIERE_CLASSIFICATION", "7.4.1 Contributi alle imprese")
    region = Administration.from_environment()
    assert (region.ipa, region.aoo, region.classification) == (
        "r_lombar",
        "AOO_RL",
        ("7.4.1", "Contributi alle imprese"),
    )
    monkeypatch.delenv("FILIERE_AOO_CODE")
    with pytest.raises(ConfigurationError, match="FILIERE_AOO_CODE"):
        Administration.from_environment()
    with pytest.raises(ConfigurationError):
        Administration(ipa="r lombar", aoo="AOO_RL")
