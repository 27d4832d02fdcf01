//! Framing on a QUIC stream: one request and one response per bidirectional stream.
//!
//! ```text
//! request:  kind (1 byte) | length (u32 BE) | body
//! response: status (1 byte) | length (u32 BE) | body
//! ```
//!
//! A batch delivery's body is a list of envelopes:
//!
//! ```text
//! batch:    count (u32 BE) | count × ( length (u32 BE) | envelope )
//! ```
//!
//! Every read is bounded before allocation: a peer announcing a larger frame than the kind
//! allows gets the stream reset, not a buffer.

use lotse_protocol::limits;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RequestKind {
    /// Store this envelope and answer with a signed receipt.
    Deliver = 1,
    /// Send a directory newer than the serial in the body (8 bytes, BE).
    FetchDirectory = 2,
    /// A join request envelope; answer with the signed directory.
    Join = 3,
    /// Store these envelopes (a batch body) and answer with one signed receipt for all.
    DeliverBatch = 4,
    /// Take this signed directory if it is newer (the KI pushes each new snapshot).
    OfferDirectory = 5,
    /// An agency's aggregate figures for the KI (`lotse_protocol::statistics`).
    ReportStatistics = 6,
}

impl RequestKind {
    fn from_byte(b: u8) -> Option<Self> {
        [
            Self::Deliver,
            Self::FetchDirectory,
            Self::Join,
            Self::DeliverBatch,
            Self::OfferDirectory,
            Self::ReportStatistics,
        ]
        .into_iter()
        .find(|k| *k as u8 == b)
    }

    fn max_body(self) -> usize {
        match self {
            RequestKind::Deliver | RequestKind::Join => limits::MAX_ENVELOPE_BYTES,
            RequestKind::FetchDirectory => 8,
            RequestKind::DeliverBatch => limits::MAX_BATCH_BYTES,
            RequestKind::OfferDirectory => limits::MAX_DIRECTORY_BYTES + 1024,
            RequestKind::ReportStatistics => lotse_protocol::statistics::MAX_REPORT_BYTES,
        }
    }
}

/// How a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Done; the body is the answer (a receipt envelope, a directory).
    Ok = 0,
    /// Refused; the body is a reason (UTF-8). Retrying the same bytes will not help.
    Rejected = 1,
    /// Not now; the body is a reason. Retry later.
    Unavailable = 2,
    /// Nothing newer than what the requester has.
    NotNewer = 3,
}

impl Status {
    fn from_byte(b: u8) -> Option<Self> {
        [Self::Ok, Self::Rejected, Self::Unavailable, Self::NotNewer]
            .into_iter()
            .find(|k| *k as u8 == b)
    }
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status.
    pub status: Status,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A successful response.
    pub fn ok(body: Vec<u8>) -> Self {
        Self {
            status: Status::Ok,
            body,
        }
    }

    /// A refusal with a reason.
    pub fn rejected(reason: impl std::fmt::Display) -> Self {
        Self {
            status: Status::Rejected,
            body: reason.to_string().into_bytes(),
        }
    }

    /// A temporary failure with a reason.
    pub fn unavailable(reason: impl std::fmt::Display) -> Self {
        Self {
            status: Status::Unavailable,
            body: reason.to_string().into_bytes(),
        }
    }

    /// The body as text, for reasons.
    pub fn reason(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(500)
            .collect()
    }
}

/// A frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Stream failed.
    #[error("stream failed: {0}")]
    Read(#[from] quinn::ReadExactError),
    /// Write failed.
    #[error("stream failed: {0}")]
    Write(#[from] quinn::WriteError),
    /// The stream was closed.
    #[error("stream closed: {0}")]
    Closed(#[from] quinn::ClosedStream),
    /// Unknown kind or status byte.
    #[error("unknown frame type {0}")]
    UnknownType(u8),
    /// Larger than allowed.
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Limit.
        limit: usize,
    },
}

/// Encodes envelopes as a batch body.
pub fn encode_batch<'a>(envelopes: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(envelopes.len() as u32).to_be_bytes());
    for e in envelopes {
        body.extend_from_slice(&(e.len() as u32).to_be_bytes());
        body.extend_from_slice(e);
    }
    body
}

/// Splits a batch body into its envelopes, checking every length against the body and
/// the limits.
pub fn decode_batch(body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let take_u32 = |rest: &mut &[u8], what: &str| -> Result<usize, String> {
        let Some((head, tail)) = rest.split_first_chunk::<4>() else {
            return Err(format!("the batch ends inside {what}"));
        };
        *rest = tail;
        Ok(u32::from_be_bytes(*head) as usize)
    };
    let mut rest = body;
    let count = take_u32(&mut rest, "its count")?;
    if count == 0 || count > limits::MAX_BATCH_MESSAGES {
        return Err(format!(
            "a batch holds 1 to {} envelopes, not {count}",
            limits::MAX_BATCH_MESSAGES
        ));
    }
    let mut envelopes = Vec::with_capacity(count);
    for i in 0..count {
        let len = take_u32(&mut rest, "a length")?;
        if len > limits::MAX_ENVELOPE_BYTES || len > rest.len() {
            return Err(format!(
                "envelope {i} of the batch announces {len} bytes; {} are left",
                rest.len()
            ));
        }
        let (envelope, tail) = rest.split_at(len);
        envelopes.push(envelope);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes follow the last envelope", rest.len()));
    }
    Ok(envelopes)
}

async fn read_head(recv: &mut quinn::RecvStream) -> Result<(u8, usize), FrameError> {
    let mut head = [0u8; 5];
    recv.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    Ok((head[0], len))
}

async fn read_body(
    recv: &mut quinn::RecvStream,
    len: usize,
    limit: usize,
) -> Result<Vec<u8>, FrameError> {
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await?;
    Ok(body)
}

async fn write_frame(send: &mut quinn::SendStream, tag: u8, body: &[u8]) -> Result<(), FrameError> {
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        len: body.len(),
        limit: u32::MAX as usize,
    })?;
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..].copy_from_slice(&len.to_be_bytes());
    send.write_all(&head).await?;
    send.write_all(body).await?;
    send.finish()?;
    Ok(())
}

/// Reads a request.
pub async fn read_request(
    recv: &mut quinn::RecvStream,
) -> Result<(RequestKind, Vec<u8>), FrameError> {
    let (tag, len) = read_head(recv).await?;
    let kind = RequestKind::from_byte(tag).ok_or(FrameError::UnknownType(tag))?;
    let body = read_body(recv, len, kind.max_body()).await?;
    Ok((kind, body))
}

/// Writes a request.
pub async fn write_request(
    send: &mut quinn::SendStream,
    kind: RequestKind,
    body: &[u8],
) -> Result<(), FrameError> {
    write_frame(send, kind as u8, body).await
}

/// Reads a response.
pub async fn read_response(recv: &mut quinn::RecvStream) -> Result<Response, FrameError> {
    let (tag, len) = read_head(recv).await?;
    let status = Status::from_byte(tag).ok_or(FrameError::UnknownType(tag))?;
    let limit = limits::MAX_ENVELOPE_BYTES.max(limits::MAX_DIRECTORY_BYTES + 1024);
    let body = read_body(recv, len, limit).await?;
    Ok(Response { status, body })
}

/// Writes a response.
pub async fn write_response(
    send: &mut quinn::SendStream,
    response: &Response,
) -> Result<(), FrameError> {
    write_frame(send, response.status as u8, &response.body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_bad_batches_are_refused_with_the_reason() {
        let items: Vec<&[u8]> = vec![b"one", b"", b"three"];
        let body = encode_batch(items.iter().copied());
        assert_eq!(decode_batch(&body).unwrap(), items);

        let fails = |body: &[u8], needle: &str| {
            let e = decode_batch(body).unwrap_err();
            assert!(e.contains(needle), "{e}");
        };
        fails(&[], "inside its count");
        fails(&0u32.to_be_bytes(), "1 to 256");
        fails(&257u32.to_be_bytes(), "not 257");
        // A length beyond the body, a body cut short, and bytes after the last envelope.
        let mut long = 1u32.to_be_bytes().to_vec();
        long.extend_from_slice(&100u32.to_be_bytes());
        long.extend_from_slice(b"short");
        fails(&long, "announces 100 bytes; 5 are left");
        fails(&body[..body.len() - 9], "inside a length");
        let mut extra = body.clone();
        extra.push(0);
        fails(&extra, "1 bytes follow");
    }
}
