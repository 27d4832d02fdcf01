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
//! allows gets a refusal, not a buffer; and a body's buffer grows with the bytes that
//! arrived ([`read_body`]), never with the length the head announced, so a head alone costs
//! nothing. Which peer may send which kind, and how many bytes may be in flight, is decided
//! by the server side ([`super::accept`]).

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
    /// The kind with this type byte.
    pub fn from_byte(b: u8) -> Option<Self> {
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

    /// The largest body a member may send with this kind (a stranger may send only a
    /// join, of at most [`super::limits::MAX_JOIN_REQUEST_BYTES`]).
    pub fn max_body(self) -> usize {
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
    /// Stream failed while reading the body.
    #[error("stream failed: {0}")]
    ReadBody(#[from] quinn::ReadError),
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
    /// The stream ended before the announced length.
    #[error("the frame announced {announced} bytes but the stream ended after {received}")]
    Truncated {
        /// Announced length.
        announced: usize,
        /// Bytes that came.
        received: usize,
    },
}

/// A batch body could not be split into envelopes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The body ends inside a count or a length.
    #[error("the batch ends inside {0}")]
    Truncated(&'static str),
    /// No envelopes, or more than allowed.
    #[error("a batch holds 1 to {max} envelopes, not {count}", max = limits::MAX_BATCH_MESSAGES)]
    Count {
        /// The count in the body.
        count: usize,
    },
    /// An envelope's length is beyond the body or the envelope limit.
    #[error("envelope {index} of the batch announces {len} bytes; {left} are left")]
    Length {
        /// Position in the batch.
        index: usize,
        /// Announced length.
        len: usize,
        /// Bytes left in the body.
        left: usize,
    },
    /// Bytes after the last envelope.
    #[error("{0} bytes follow the last envelope")]
    Trailing(usize),
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
pub fn decode_batch(body: &[u8]) -> Result<Vec<&[u8]>, BatchError> {
    let take_u32 = |rest: &mut &[u8], what: &'static str| -> Result<usize, BatchError> {
        let Some((head, tail)) = rest.split_first_chunk::<4>() else {
            return Err(BatchError::Truncated(what));
        };
        *rest = tail;
        Ok(u32::from_be_bytes(*head) as usize)
    };
    let mut rest = body;
    let count = take_u32(&mut rest, "its count")?;
    if count == 0 || count > limits::MAX_BATCH_MESSAGES {
        return Err(BatchError::Count { count });
    }
    let mut envelopes = Vec::with_capacity(count);
    for index in 0..count {
        let len = take_u32(&mut rest, "a length")?;
        if len > limits::MAX_ENVELOPE_BYTES || len > rest.len() {
            return Err(BatchError::Length {
                index,
                len,
                left: rest.len(),
            });
        }
        let (envelope, tail) = rest.split_at(len);
        envelopes.push(envelope);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(BatchError::Trailing(rest.len()));
    }
    Ok(envelopes)
}

/// The 5-byte head of a frame: its type byte and the body length.
pub fn encode_head(tag: u8, len: u32) -> [u8; 5] {
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..].copy_from_slice(&len.to_be_bytes());
    head
}

/// Reads a frame head: the type byte and the announced body length.
pub async fn read_head(recv: &mut quinn::RecvStream) -> Result<(u8, usize), FrameError> {
    let mut head = [0u8; 5];
    recv.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    Ok((head[0], len))
}

/// How much a body buffer grows at least when it must grow.
const FIRST_CAPACITY: usize = 16 * 1024;

/// A body being received: its buffer grows with the bytes that arrived (doubling, at least
/// [`FIRST_CAPACITY`]), never beyond the announced length, so a head that announces
/// megabytes costs nothing until the megabytes come.
#[derive(Debug, Default)]
pub struct BodyBuffer {
    buf: Vec<u8>,
    len: usize,
}

impl BodyBuffer {
    /// An empty body of `len` announced bytes (checked against its limit by the caller).
    pub fn new(len: usize) -> Self {
        Self {
            buf: Vec::new(),
            len,
        }
    }

    /// Bytes still to come.
    pub fn missing(&self) -> usize {
        self.len - self.buf.len()
    }

    /// The buffer's capacity: what it costs now.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends bytes that arrived, at most [`BodyBuffer::missing`] of them (the rest is
    /// not part of this body and is ignored). Returns the new capacity if the buffer grew.
    pub fn push(&mut self, bytes: &[u8]) -> Option<usize> {
        let bytes = &bytes[..bytes.len().min(self.missing())];
        let filled = self.buf.len();
        let mut grew = None;
        if filled + bytes.len() > self.buf.capacity() {
            let target = (self.buf.capacity() * 2)
                .max(FIRST_CAPACITY)
                .max(filled + bytes.len())
                .min(self.len);
            self.buf.reserve_exact(target - filled);
            grew = Some(self.buf.capacity());
        }
        self.buf.extend_from_slice(bytes);
        grew
    }

    /// The whole body, once [`BodyBuffer::missing`] is 0.
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads a body of `len` bytes (already checked against its limit) as it arrives; `grew`
/// hears every new capacity of the buffer (the server counts it against the request's
/// reservation).
pub async fn read_body(
    recv: &mut quinn::RecvStream,
    len: usize,
    mut grew: impl FnMut(usize),
) -> Result<Vec<u8>, FrameError> {
    let mut body = BodyBuffer::new(len);
    while body.missing() > 0 {
        let Some(chunk) = recv.read_chunk(body.missing(), true).await? else {
            return Err(FrameError::Truncated {
                announced: len,
                received: len - body.missing(),
            });
        };
        if let Some(capacity) = body.push(&chunk.bytes) {
            grew(capacity);
        }
    }
    Ok(body.into_inner())
}

async fn write_frame(send: &mut quinn::SendStream, tag: u8, body: &[u8]) -> Result<(), FrameError> {
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        len: body.len(),
        limit: u32::MAX as usize,
    })?;
    send.write_all(&encode_head(tag, len)).await?;
    send.write_all(body).await?;
    send.finish()?;
    Ok(())
}

/// Reads a request's kind and announced length, refusing unknown kinds and lengths over
/// the kind's limit before anything else is read.
pub async fn read_request_head(
    recv: &mut quinn::RecvStream,
) -> Result<(RequestKind, usize), FrameError> {
    let (tag, len) = read_head(recv).await?;
    let kind = RequestKind::from_byte(tag).ok_or(FrameError::UnknownType(tag))?;
    let limit = kind.max_body();
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    Ok((kind, len))
}

/// Reads a whole request (tools and tests; the server reads the head and the body apart,
/// to reserve the body's bytes in between).
pub async fn read_request(
    recv: &mut quinn::RecvStream,
) -> Result<(RequestKind, Vec<u8>), FrameError> {
    let (kind, len) = read_request_head(recv).await?;
    let body = read_body(recv, len, |_| {}).await?;
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

/// The largest response body: a directory snapshot or a receipt envelope.
const MAX_RESPONSE_BYTES: usize = if limits::MAX_ENVELOPE_BYTES > limits::MAX_DIRECTORY_BYTES + 1024
{
    limits::MAX_ENVELOPE_BYTES
} else {
    limits::MAX_DIRECTORY_BYTES + 1024
};

/// Reads a response.
pub async fn read_response(recv: &mut quinn::RecvStream) -> Result<Response, FrameError> {
    let (tag, len) = read_head(recv).await?;
    let status = Status::from_byte(tag).ok_or(FrameError::UnknownType(tag))?;
    if len > MAX_RESPONSE_BYTES {
        return Err(FrameError::TooLarge {
            len,
            limit: MAX_RESPONSE_BYTES,
        });
    }
    let body = read_body(recv, len, |_| {}).await?;
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
            let e = decode_batch(body).unwrap_err().to_string();
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

    #[test]
    fn a_body_buffer_follows_what_arrived_not_what_was_announced() {
        let announced = 15 * 1024 * 1024;
        let mut body = BodyBuffer::new(announced);
        assert_eq!(body.capacity(), 0, "a head alone costs nothing");
        assert_eq!(body.push(&[1; 100]), Some(FIRST_CAPACITY));
        assert_eq!(body.push(&[2; 100]), None);
        assert_eq!(
            body.push(&vec![3; FIRST_CAPACITY]),
            Some(2 * FIRST_CAPACITY)
        );
        assert!(body.capacity() < 64 * 1024);
        // Never beyond the announced length, and bytes past it are not taken.
        let mut small = BodyBuffer::new(10);
        assert_eq!(small.push(&[7; 25]), Some(10));
        assert_eq!(small.missing(), 0);
        assert_eq!(small.into_inner(), vec![7; 10]);
    }
}
