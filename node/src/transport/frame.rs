//! Framing on a QUIC stream: one request and one response per bidirectional stream.
//!
//! ```text
//! request:  kind (1 byte) | length (u32 BE) | body
//! response: status (1 byte) | length (u32 BE) | body
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
}

impl RequestKind {
    fn from_byte(b: u8) -> Option<Self> {
        [Self::Deliver, Self::FetchDirectory, Self::Join]
            .into_iter()
            .find(|k| *k as u8 == b)
    }

    fn max_body(self) -> usize {
        match self {
            RequestKind::Deliver | RequestKind::Join => limits::MAX_ENVELOPE_BYTES,
            RequestKind::FetchDirectory => 8,
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
