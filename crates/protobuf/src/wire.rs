//! Protobuf wire primitives: a bounds-checked reader and an appending writer.

/// Wire type of varints (int32, int64, bool).
pub(crate) const VARINT: u8 = 0;
/// Wire type of fixed 64-bit values (double).
pub(crate) const FIXED64: u8 = 1;
/// Wire type of length-delimited values (string, bytes, messages, packed repeated).
pub(crate) const LEN: u8 = 2;
/// Wire type of fixed 32-bit values (float, fixed32).
pub(crate) const FIXED32: u8 = 5;

const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// A low-level failure; the decoder adds the field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    TruncatedVarint,
    VarintTooLong,
    Truncated { needed: u64, remaining: usize },
    InvalidFieldNumber(u64),
    UnsupportedWireType { field: u32, wire_type: u8 },
}

/// Reads one message's bytes front to back; never reads past its slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().enumerate() {
            if i == 10 {
                return Err(WireError::VarintTooLong);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        if self.buf.len() >= 10 {
            Err(WireError::VarintTooLong)
        } else {
            Err(WireError::TruncatedVarint)
        }
    }

    /// Reads a field key: (field number, wire type).
    pub(crate) fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > MAX_FIELD_NUMBER {
            return Err(WireError::InvalidFieldNumber(number));
        }
        // Both fit: number <= 2^29-1 and the wire type is 3 bits.
        Ok((number as u32, (key & 7) as u8))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], WireError> {
        let remaining = self.buf.len();
        match usize::try_from(n) {
            Ok(n) if n <= remaining => {
                let (head, tail) = self.buf.split_at(n);
                self.buf = tail;
                Ok(head)
            }
            _ => Err(WireError::Truncated {
                needed: n,
                remaining,
            }),
        }
    }

    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.varint()?;
        self.take(n)
    }

    pub(crate) fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| {
            WireError::Truncated {
                needed: 8,
                remaining: 0,
            }
        })?))
    }

    /// Skips the value of an unknown field.
    pub(crate) fn skip(&mut self, field: u32, wire_type: u8) -> Result<(), WireError> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => self.take(4).map(drop),
            _ => Err(WireError::UnsupportedWireType { field, wire_type }),
        }
    }
}

/// Appends protobuf encodings to a byte vector.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    pub(crate) fn key(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    pub(crate) fn varint_field(&mut self, field: u32, value: u64) {
        self.key(field, VARINT);
        self.varint(value);
    }

    pub(crate) fn bytes_field(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, LEN);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn double_field(&mut self, field: u32, value: f64) {
        self.key(field, FIXED64);
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX,
            (-1i64) as u64,
        ] {
            let mut w = Writer::default();
            w.varint(v);
            let mut r = Reader::new(&w.buf);
            assert_eq!(r.varint(), Ok(v));
            assert!(r.is_empty());
        }
    }

    #[test]
    fn varint_errors() {
        assert_eq!(
            Reader::new(&[0x80, 0x80]).varint(),
            Err(WireError::TruncatedVarint)
        );
        assert_eq!(
            Reader::new(&[0xff; 11]).varint(),
            Err(WireError::VarintTooLong)
        );
        assert_eq!(
            Reader::new(&[0xff; 10]).varint(),
            Err(WireError::VarintTooLong)
        );
    }

    #[test]
    fn lengths_are_checked_against_remaining_bytes() {
        // Claims 2^63 bytes.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1]);
        assert!(matches!(
            r.len_delimited(),
            Err(WireError::Truncated { remaining: 1, .. })
        ));
        assert_eq!(
            Reader::new(&[3, 1, 2]).len_delimited(),
            Err(WireError::Truncated {
                needed: 3,
                remaining: 2
            })
        );
    }

    #[test]
    fn keys_reject_field_zero_and_groups_are_unsupported() {
        assert_eq!(
            Reader::new(&[0x02]).key(),
            Err(WireError::InvalidFieldNumber(0))
        );
        assert_eq!(Reader::new(&[0x0b]).key(), Ok((1, 3)));
        assert_eq!(
            Reader::new(&[]).skip(1, 3),
            Err(WireError::UnsupportedWireType {
                field: 1,
                wire_type: 3
            })
        );
    }
}
