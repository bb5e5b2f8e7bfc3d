"""A submission's receipt as the AgID protocol signature (*segnatura informatica*).

The *Linee guida sul documento informatico* (Allegato 6, "Comunicazione tra AOO
di documenti amministrativi protocollati") fix the XML of a protocol entry:
``SegnaturaInformatica`` in the namespace ``http://www.agid.gov.it/protocollo/``,
schema ``segnatura_protocollo.xsd`` version 3.0.0 (AgID's repository
``protocollo-comunicazione-aoo``; a copy is in ``tests/fixtures/segnatura/``).
A submitted proposal is registered by the region's AOO, so its segnatura names

- the administration's IPA code, its AOO and register (configuration, below),
  the protocol number of the call (at least 7 digits, as the schema wants) and
  the date and time of the submission in Europe/Rome;
- the applicant (the partnership's capofila, a legal person with its tax code)
  as sender, the administration as recipient;
- the primary document, the submission as the receipt hashed it (canonical JSON
  of the proposal and its partnership), by its *impronta*: SHA-256, base64.

The schema ends the segnatura with a ``ds:Signature`` (XAdES baseline B with the
AOO's qualified seal). The engine holds no seal: it renders the segnatura
unsigned, and the AOO's signing service appends the signature as the last child
of the root before it is sent or stored.

Configuration: ``FILIERE_IPA_CODE`` and ``FILIERE_AOO_CODE`` (required),
``FILIERE_ADMINISTRATION_NAME`` (default ``Regione Lombardia``),
``FILIERE_PROTOCOL_REGISTER`` (default ``PROTOCOLLO``), ``FILIERE_CLASSIFICATION``
(``CODE Name``, the titolario's class; default ``7.4 Contributi``).
"""

from __future__ import annotations

import base64
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from handlers.timeutil import ROME
from workflow.engine import Engine
from workflow.errors import ConfigurationError, InvalidInput

NAMESPACE = "http://www.agid.gov.it/protocollo/"
VERSION = "3.0.0"
#: IPA and AOO codes as the IPA index gives them; a register as the schema's CodiceRegistroType.
CODE = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
REGISTER = re.compile(r"[A-Za-z0-9_.\-]{1,16}")


@dataclass(frozen=True, slots=True)
class Administration:
    """Who registers the submissions: the administration and its AOO, as the IPA index names them."""

    ipa: str
    aoo: str
    name: str = "Regione Lombardia"
    register: str = "PROTOCOLLO"
    classification: tuple[str, str] = ("7.4", "Contributi")

    def __post_init__(self) -> None:
        for field, value, pattern in (
            ("ipa", self.ipa, CODE),
            ("aoo", self.aoo, CODE),
            ("register", self.register, REGISTER),
        ):
            if not pattern.fullmatch(value):
                raise ConfigurationError("protocol", field, f"{value!r} is not a code ({pattern.pattern})")

    @classmethod
    def from_environment(cls) -> Administration:
        """The administration the environment configures.

        Raises:
            ConfigurationError: an IPA or AOO code is missing, or a code is malformed.
        """
        values = {name: os.environ.get(f"FILIERE_{name.upper()}_CODE", "").strip() for name in ("ipa", "aoo")}
        for name, value in values.items():
            if not value:
                raise ConfigurationError("protocol", f"FILIERE_{name.upper()}_CODE", "is not set")
        code, _, label = os.environ.get("FILIERE_CLASSIFICATION", "7.4 Contributi").strip().partition(" ")
        return cls(
            ipa=values["ipa"],
            aoo=values["aoo"],
            name=os.environ.get("FILIERE_ADMINISTRATION_NAME", "Regione Lombardia"),
            register=os.environ.get("FILIERE_PROTOCOL_REGISTER", "PROTOCOLLO"),
            classification=(code, label.strip() or code),
        )


def impronta(sha256_hex: str) -> str:
    """The *impronta* of a document whose SHA-256 is ``sha256_hex``: the digest's bytes in base64."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def segnatura(engine: Engine, proposal_id: str, administration: Administration) -> bytes:
    """The unsigned ``SegnaturaInformatica`` of a submitted proposal, UTF-8 XML.

    Raises:
        NotFound: no such proposal.
        InvalidInput: the proposal was never submitted (it has no receipt).
    """
    proposal = engine.get("proposal", proposal_id)
    receipt = proposal.data.get("receipt")
    if not receipt:
        raise InvalidInput("proposal_id", f"{proposal_id} has no receipt: it was never submitted")
    partnership = engine.get("partnership", proposal.data["partnership_id"])
    lead = next(p for p in partnership.data["partners"] if p.get("capofila"))
    at = datetime.fromisoformat(receipt["at"].replace("Z", "+00:00")).astimezone(ROME)
    number = str(proposal.data["protocol_number"]).zfill(7)

    ET.register_namespace("prot", NAMESPACE)
    root = _el(None, "SegnaturaInformatica", {"versione": VERSION, "lang": "it"})
    header = _el(root, "Intestazione")
    ident = _el(header, "Identificatore")
    _el(ident, "CodiceAmministrazione", text=administration.ipa)
    _el(ident, "CodiceAOO", text=administration.aoo)
    _el(ident, "CodiceRegistro", text=administration.register)
    _el(ident, "NumeroRegistrazione", text=number)
    _el(ident, "DataRegistrazione", text=at.date().isoformat())
    _el(ident, "OraRegistrazione", text=at.time().replace(microsecond=0).isoformat())
    _el(header, "Oggetto", text=f"Domanda {receipt['protocol']}: {proposal.data.get('title', proposal_id)}")
    classification = _el(header, "Classifica")
    _el(classification, "Denominazione", text=administration.classification[1])
    _el(classification, "CodiceFlat", text=administration.classification[0])
    description = _el(root, "Descrizione")
    sender = _el(_el(description, "Mittente"), "PersonaGiuridica")
    _el(sender, "Denominazione", text=lead["name"])
    if re.fullmatch(r"[0-9]{11}", lead["tax_code"]):
        _el(sender, "PIVAoCF", text=lead["tax_code"])
    recipient = _el(_el(description, "Destinatario"), "Amministrazione")
    _el(recipient, "DenominazioneAmministrazione", text=administration.name)
    _el(recipient, "CodiceIPAAmministrazione", text=administration.ipa)
    _el(recipient, "CodiceIPAAOO", text=administration.aoo)
    primary = _el(
        description,
        "DocumentoPrimario",
        {"nomeFile": f"{receipt['protocol']}.json", "mimeType": "application/json"},
    )
    _el(primary, "Descrizione", text="La domanda come presentata (JSON canonico di proposta e partenariato)")
    _el(primary, "Impronta", {"algoritmo": "SHA-256"}, text=impronta(receipt["sha256"]))
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _el(
    parent: ET.Element | None, tag: str, attributes: dict[str, str] | None = None, *, text: str | None = None
) -> ET.Element:
    """An element of the protocol namespace (its attributes too: the schema qualifies them)."""
    qualified = {f"{{{NAMESPACE}}}{k}": v for k, v in (attributes or {}).items()}
    element = (
        ET.Element(f"{{{NAMESPACE}}}{tag}", qualified)
        if parent is None
        else ET.SubElement(parent, f"{{{NAMESPACE}}}{tag}", qualified)
    )
    if text is not None:
        element.text = text
    return element
