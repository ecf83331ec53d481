//! Certificate subjects the way upstream's signer writes them.
//!
//! Upstream parses a request's subject into Go's `pkix.Name` and issues the
//! certificate with that name, so the issued subject is not a byte copy of
//! the request's:
//!
//! - only the well-known attributes survive: C, ST, L, street, postalCode,
//!   O, OU, CN, serialNumber (others, such as emailAddress, are dropped);
//! - every value of a repeated attribute is kept (two `O=` become two
//!   groups of the client), except CN and serialNumber, where the last
//!   value wins;
//! - the RDNs come in Go's fixed order (C, ST, L, street, postalCode, O,
//!   OU, CN, serialNumber), and several values of one attribute share one
//!   multi-valued RDN (`O=a+O=b`);
//! - values are PrintableStrings when their characters allow it, else
//!   UTF8Strings.
//!
//! rcgen keeps one value per attribute type, so the signer lets rcgen build
//! and sign the certificate and then puts this subject into it (see
//! [`replace_subject`]).

use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::x509::X509Name;

/// `id-at-<n>` (2.5.4.n) numbers of the attributes kept.
const CN: u8 = 3;
const SERIAL_NUMBER: u8 = 5;
const COUNTRY: u8 = 6;
const LOCALITY: u8 = 7;
const PROVINCE: u8 = 8;
const STREET: u8 = 9;
const ORGANIZATION: u8 = 10;
const ORGANIZATIONAL_UNIT: u8 = 11;
const POSTAL_CODE: u8 = 17;

/// The subject fields upstream keeps (Go's `pkix.Name` without `Names`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name {
    /// C values.
    pub country: Vec<String>,
    /// ST values.
    pub province: Vec<String>,
    /// L values.
    pub locality: Vec<String>,
    /// street values.
    pub street_address: Vec<String>,
    /// postalCode values.
    pub postal_code: Vec<String>,
    /// O values, in order.
    pub organization: Vec<String>,
    /// OU values.
    pub organizational_unit: Vec<String>,
    /// The last CN (empty if none).
    pub common_name: String,
    /// The last serialNumber (empty if none).
    pub serial_number: String,
}

/// Decodes an attribute value of one of the string types Go accepts.
fn string_value(tag: Tag, data: &[u8]) -> Result<String, String> {
    let utf8 = |d: &[u8]| {
        std::str::from_utf8(d)
            .map(str::to_string)
            .map_err(|_| "invalid UTF-8 in a subject attribute".to_string())
    };
    match tag {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::NumericString => utf8(data),
        // Go reads T61String as Latin-1.
        Tag::T61String => Ok(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                return Err("invalid BMPString in a subject attribute".into());
            }
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units)
                .map_err(|_| "invalid BMPString in a subject attribute".into())
        }
        other => Err(format!(
            "unsupported string type {other} in a subject attribute"
        )),
    }
}

impl Name {
    /// Go's `FillFromRDNSequence` over a parsed subject: every attribute of
    /// every RDN (multi-valued ones too), well-known types only.
    pub fn from_x509(subject: &X509Name<'_>) -> Result<Self, String> {
        let mut name = Name::default();
        for rdn in subject.iter() {
            for attribute in rdn.iter() {
                let value = attribute.attr_value();
                let value = string_value(value.header.tag(), value.data)?;
                let Some(arcs) = attribute.attr_type().iter() else {
                    continue;
                };
                let arcs: Vec<u64> = arcs.collect();
                let [2, 5, 4, n] = arcs.as_slice() else {
                    continue;
                };
                let Ok(n) = u8::try_from(*n) else {
                    continue;
                };
                match n {
                    CN => name.common_name = value,
                    SERIAL_NUMBER => name.serial_number = value,
                    COUNTRY => name.country.push(value),
                    LOCALITY => name.locality.push(value),
                    PROVINCE => name.province.push(value),
                    STREET => name.street_address.push(value),
                    ORGANIZATION => name.organization.push(value),
                    ORGANIZATIONAL_UNIT => name.organizational_unit.push(value),
                    POSTAL_CODE => name.postal_code.push(value),
                    _ => {}
                }
            }
        }
        Ok(name)
    }

    /// Whether nothing would be written (an empty subject).
    pub fn is_empty(&self) -> bool {
        self.to_der() == [0x30, 0x00]
    }

    /// The DER `Name` Go's `ToRDNSequence` gives for these fields.
    pub fn to_der(&self) -> Vec<u8> {
        let single = |v: &String| -> Vec<String> {
            if v.is_empty() {
                Vec::new()
            } else {
                vec![v.clone()]
            }
        };
        let groups: [(u8, Vec<String>); 9] = [
            (COUNTRY, self.country.clone()),
            (PROVINCE, self.province.clone()),
            (LOCALITY, self.locality.clone()),
            (STREET, self.street_address.clone()),
            (POSTAL_CODE, self.postal_code.clone()),
            (ORGANIZATION, self.organization.clone()),
            (ORGANIZATIONAL_UNIT, self.organizational_unit.clone()),
            (CN, single(&self.common_name)),
            (SERIAL_NUMBER, single(&self.serial_number)),
        ];
        let mut rdns = Vec::new();
        for (attribute, values) in groups {
            if values.is_empty() {
                continue;
            }
            let mut atvs: Vec<Vec<u8>> = values
                .iter()
                .map(|v| {
                    let mut atv = tlv(0x06, &[0x55, 0x04, attribute]);
                    atv.extend(string_tlv(v));
                    tlv(0x30, &atv)
                })
                .collect();
            // DER orders the members of a SET OF by their encodings.
            atvs.sort();
            rdns.extend(tlv(0x31, &atvs.concat()));
        }
        tlv(0x30, &rdns)
    }
}

/// Go's `isPrintable` as its encoder uses it (no `*`, no `&`).
fn printable(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || (b'\''..=b')').contains(&b)
        || (b'+'..=b'/').contains(&b)
        || matches!(b, b' ' | b':' | b'=' | b'?')
}

fn string_tlv(value: &str) -> Vec<u8> {
    let tag = if value.bytes().all(printable) {
        0x13 // PrintableString
    } else {
        0x0c // UTF8String
    };
    tlv(tag, value.as_bytes())
}

/// A DER element with a definite length.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend(&bytes[skip..]);
    }
    out.extend(content);
    out
}

/// One DER element at the start of `input`: (header length, total length).
fn element(input: &[u8]) -> Result<(usize, usize), String> {
    let bad = || "malformed DER in the issued certificate".to_string();
    let first = *input.get(1).ok_or_else(bad)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let bytes = input.get(2..2 + n).ok_or_else(bad)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + n, len)
    };
    let total = header.checked_add(len).ok_or_else(bad)?;
    if total > input.len() {
        return Err(bad());
    }
    Ok((header, total))
}

/// The elements inside a constructed element's content.
fn children(content: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (_, total) = element(rest)?;
        out.push(&rest[..total]);
        rest = &rest[total..];
    }
    Ok(out)
}

/// Replaces the subject of the DER certificate `cert` with `subject` and
/// signs the changed TBSCertificate again with `sign` (the same key and
/// algorithm that signed `cert`).
pub fn replace_subject(
    cert: &[u8],
    subject: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, String> {
    let (header, total) = element(cert)?;
    let parts = children(&cert[header..total])?;
    let [tbs, algorithm, _signature] = parts[..] else {
        return Err("the issued certificate is not a Certificate".into());
    };
    let (tbs_header, _) = element(tbs)?;
    let mut fields = children(&tbs[tbs_header..])?;
    // version [0], serialNumber, signature, issuer, validity, subject, ...
    let subject_index = if fields.first().is_some_and(|f| f[0] == 0xa0) {
        5
    } else {
        4
    };
    if fields.len() <= subject_index {
        return Err("the issued certificate has no subject".into());
    }
    fields[subject_index] = subject;
    let tbs = tlv(0x30, &fields.concat());
    let signature = sign(&tbs)?;
    let mut bits = vec![0u8];
    bits.extend(signature);
    let mut body = tbs;
    body.extend(algorithm);
    body.extend(tlv(0x03, &bits));
    Ok(tlv(0x30, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer;

    fn parse_name(der: &[u8]) -> Name {
        let (rest, name) = X509Name::from_der(der).unwrap();
        assert!(rest.is_empty());
        Name::from_x509(&name).unwrap()
    }

    #[test]
    fn repeated_organizations_share_one_rdn_in_go_order() {
        let name = Name {
            organization: vec!["system:masters".into(), "dev".into()],
            common_name: "alice".into(),
            country: vec!["DE".into()],
            ..Name::default()
        };
        let der = name.to_der();
        let (_, parsed) = X509Name::from_der(&der).unwrap();
        let rdns: Vec<Vec<String>> = parsed
            .iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|a| format!("{}={}", a.attr_type().to_id_string(), a.as_str().unwrap()))
                    .collect()
            })
            .collect();
        // C first, then one multi-valued O (sorted by encoding), then CN.
        assert_eq!(
            rdns,
            [
                vec!["2.5.4.6=DE".to_string()],
                vec![
                    "2.5.4.10=dev".to_string(),
                    "2.5.4.10=system:masters".to_string()
                ],
                vec!["2.5.4.3=alice".to_string()],
            ]
        );
        let round = parse_name(&der);
        assert_eq!(round.organization, ["dev", "system:masters"]);
        assert_eq!(round.common_name, "alice");
    }

    #[test]
    fn last_common_name_wins_and_unknown_attributes_are_dropped() {
        // CN=a, emailAddress=x@y, CN=b as three RDNs.
        let atv = |oid: &[u8], tag: u8, v: &str| {
            let mut a = tlv(0x06, oid);
            a.extend(tlv(tag, v.as_bytes()));
            tlv(0x31, &tlv(0x30, &a))
        };
        let email_oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
        let der = tlv(
            0x30,
            &[
                atv(&[0x55, 0x04, 0x03], 0x0c, "a"),
                atv(&email_oid, 0x16, "x@y"),
                atv(&[0x55, 0x04, 0x03], 0x0c, "b"),
            ]
            .concat(),
        );
        let name = parse_name(&der);
        assert_eq!(name.common_name, "b");
        assert_eq!(
            name.to_der(),
            tlv(0x30, &atv(&[0x55, 0x04, 0x03], 0x13, "b"))
        );
        assert!(Name::default().is_empty());
    }

    #[test]
    fn values_outside_printable_string_are_utf8() {
        assert_eq!(string_tlv("a b:c=d")[0], 0x13);
        assert_eq!(string_tlv("a*b")[0], 0x0c);
        assert_eq!(string_tlv("a&b")[0], 0x0c);
        assert_eq!(string_tlv("grüne")[0], 0x0c);
        assert_eq!(tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }
}
