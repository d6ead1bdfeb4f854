//! The three calls over HTTP: the happy paths, resume and instant upload,
//! every failure code, and hostile input. Every test runs twice: on the
//! local disk (an in-process server) and on S3 (the binary on a moto
//! bucket), see `both_backends!` at the end.

mod common;

use common::*;
use vod_ugc_upload::protocol::code;

async fn fresh_upload_with_parts_out_of_order(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(3 * MIB + 12_345, 1, APP_A);
    assert_eq!(api.init(&file.sha, file.data.len(), MIB, &file.sig).await.code, 0);
    let mut parts = file.parts(MIB);
    parts.reverse();
    parts.swap(0, 2);
    for (offset, len) in parts {
        let answer = api.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await;
        assert_eq!(answer.code, 0, "{answer:?}");
    }
    let done = api.finish(&file.sha, &file.sig).await;
    assert_eq!((done.code, done.message.as_str()), (0, ""));
    let file_id = done.file_id.clone().unwrap();
    assert_eq!(file_id.len(), 19);
    let url = done.url.clone().unwrap();
    let key = url
        .strip_prefix(&format!("{}/media/", server.base))
        .and_then(|path| path.strip_suffix("/f0.mp4"))
        .unwrap_or_else(|| panic!("unexpected url {url}"));
    assert!(key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
    assert_eq!(api.fetch(&url).await, file.data);

    // Finishing again answers the same file.
    let again = api.finish(&file.sha, &file.sig).await;
    assert_eq!((again.code, again.file_id, again.url), (0, Some(file_id), Some(url)));
}

async fn instant_upload_answers_the_same_file(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(700_000, 2, APP_A);
    let done = api.upload(&file, HALF).await;
    // A new signature (as a new upload of the same file would get).
    let sig = sign(APP_A, &file.sha, Some("mp4"));
    let instant = api.init(&file.sha, file.data.len(), MIB, &sig).await;
    assert_eq!(instant.code, code::INSTANT, "{instant:?}");
    assert_eq!(instant.file_id, done.file_id);
    assert_eq!(instant.url, done.url);
    // Announcing another size for a finished sha is refused.
    let wrong = api.init(&file.sha, file.data.len() + 1, MIB, &sig).await;
    assert_failure(&wrong, code::PROTOCOL_PARAMS, false);
}

async fn resume_lists_stored_parts_with_the_sessions_part_size(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(2 * MIB + 100, 3, APP_A);
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &file.sig).await.code, 0);
    let parts = file.parts(HALF);
    assert_eq!(parts.len(), 5);
    for &(offset, len) in [&parts[1], &parts[4]] {
        assert_eq!(api.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await.code, 0);
    }
    // The client now asks for 1 MiB parts; the server insists on 512 KiB.
    let resume = api.init(&file.sha, file.data.len(), MIB, &file.sig).await;
    assert_eq!(resume.code, code::RESUME, "{resume:?}");
    assert_eq!(resume.data_size, Some(HALF as u64));
    let listed: Vec<(u64, u64, String)> = resume
        .list_parts
        .unwrap()
        .into_iter()
        .map(|p| (p.offset, p.data_size, p.data_md5.unwrap()))
        .collect();
    let expected: Vec<(u64, u64, String)> = [parts[1], parts[4]]
        .iter()
        .map(|&(o, l)| (o as u64, l as u64, md5_hex(&file.data[o..o + l])))
        .collect();
    assert_eq!(listed, expected);

    // Re-sending a stored part is accepted; the rest completes the file.
    for &(offset, len) in &parts {
        assert_eq!(api.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await.code, 0);
    }
    let done = api.finish(&file.sha, &file.sig).await;
    assert_eq!(api.fetch(&done.url.unwrap()).await, file.data);
}

async fn a_session_without_parts_adopts_the_new_part_size(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(MIB + 1, 4, APP_A);
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &file.sig).await.code, 0);
    assert_eq!(api.init(&file.sha, file.data.len(), MIB, &file.sig).await.code, 0);
    // Parts now follow the 1 MiB plan: a 512 KiB first part is refused.
    let refused = api.part(&file.sha, 0, &file.data[..HALF], &file.sig).await;
    assert_failure(&refused, code::PROTOCOL_PARAMS, false);
    assert_eq!(api.part(&file.sha, 0, &file.data[..MIB], &file.sig).await.code, 0);
    assert_eq!(api.part(&file.sha, MIB, &file.data[MIB..], &file.sig).await.code, 0);
    let done = api.finish(&file.sha, &file.sig).await;
    assert_eq!(done.code, 0, "{done:?}");
}

async fn eight_parts_in_parallel(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(8 * HALF - 7, 5, APP_A);
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &file.sig).await.code, 0);
    let sends = file.parts(HALF).into_iter().map(|(offset, len)| {
        let api = api.clone();
        let body = file.data[offset..offset + len].to_vec();
        let (sha, sig) = (file.sha.clone(), file.sig.clone());
        tokio::spawn(async move { api.part(&sha, offset, &body, &sig).await })
    });
    for answer in futures_util::future::join_all(sends).await {
        assert_eq!(answer.unwrap().code, 0);
    }
    let resume = api.init(&file.sha, file.data.len(), HALF, &file.sig).await;
    assert_eq!(resume.list_parts.unwrap().len(), 8);
    let done = api.finish(&file.sha, &file.sig).await;
    assert_eq!(api.fetch(&done.url.unwrap()).await, file.data);
}

async fn a_lying_file_sha_is_refused_and_never_offered(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let real = bytes(HALF + 10, 6);
    let claimed = sha1_hex(b"something else entirely");
    let sig = sign(APP_A, &claimed, Some("mp4"));
    assert_eq!(api.init(&claimed, real.len(), HALF, &sig).await.code, 0);
    assert_eq!(api.part(&claimed, 0, &real[..HALF], &sig).await.code, 0);
    assert_eq!(api.part(&claimed, HALF, &real[HALF..], &sig).await.code, 0);
    let refused = api.finish(&claimed, &sig).await;
    assert_failure(&refused, code::BODY, false);
    assert!(refused.message.contains("SHA-1"), "{refused:?}");
    assert_eq!(refused.url, None);
    // Not instant, not resumable, nothing in the media folder.
    let again = api.init(&claimed, real.len(), HALF, &sig).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(server.keys("media/").await, Vec::<String>::new());
}

async fn apps_are_isolated(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(HALF * 2 + 1, 7, APP_A);
    let done_a = api.upload(&file, HALF).await;
    let other = TestFile::new(HALF * 2, 8, APP_A);
    assert_eq!(api.init(&other.sha, other.data.len(), HALF, &other.sig).await.code, 0);
    assert_eq!(api.part(&other.sha, 0, &other.data[..HALF], &other.sig).await.code, 0);

    // App B knows neither the finished file nor the partial upload.
    let sig_b = sign(APP_B, &file.sha, Some("mp4"));
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &sig_b).await.code, 0);
    let other_b = sign(APP_B, &other.sha, None);
    assert_failure(&api.finish(&other.sha, &other_b).await, code::READ_STATE, false);
    assert_eq!(api.init(&other.sha, other.data.len(), HALF, &other_b).await.code, 0);

    // B uploads the same bytes and gets its own file.
    let file_b = TestFile { sig: sig_b, ..TestFile::new(HALF * 2 + 1, 7, APP_A) };
    for (offset, len) in file_b.parts(HALF) {
        assert_eq!(api.part(&file_b.sha, offset, &file_b.data[offset..offset + len], &file_b.sig).await.code, 0);
    }
    let done_b = api.finish(&file_b.sha, &file_b.sig).await;
    assert_eq!(done_b.code, 0);
    assert_ne!(done_b.file_id, done_a.file_id);
}

async fn media_is_served_with_ranges_and_types(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(100_000, 9, APP_A);
    let url = api.upload(&file, HALF).await.url.unwrap();
    let response = api.client.get(&url).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "video/mp4");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(response.bytes().await.unwrap(), file.data);

    let ranged = api.client.get(&url).header("range", "bytes=1000-1999").send().await.unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], "bytes 1000-1999/100000");
    assert_eq!(ranged.bytes().await.unwrap(), file.data[1000..2000]);

    // HEAD: the same headers, no body.
    let head = api.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!((&head.headers()["content-type"], &head.headers()["content-length"]), (&"video/mp4".parse().unwrap(), &"100000".parse().unwrap()));
    assert!(head.bytes().await.unwrap().is_empty());
    let head = api.client.head(&url).header("range", "bytes=-10").send().await.unwrap();
    assert_eq!(head.status(), 206);
    assert_eq!(head.headers()["content-range"], "bytes 99990-99999/100000");
    assert_eq!(head.headers()["content-length"], "10");
    let head = api.client.head(format!("{}/media/123/f0.mp4", server.base)).send().await.unwrap();
    assert_eq!(head.status(), 404);

    // Extensions from the signature's ft decide the type; none gives bytes.
    for (ft, content_type, name) in [
        (Some("webm"), "video/webm", "f0.webm"),
        (Some("MOV"), "video/quicktime", "f0.mov"),
        (None, "application/octet-stream", "f0"),
    ] {
        let data = bytes(1000, content_type.len() as u64);
        let sha = sha1_hex(&data);
        let file = TestFile { sig: sign(APP_A, &sha, ft), sha, data };
        let url = api.upload(&file, HALF).await.url.unwrap();
        assert!(url.ends_with(&format!("/{name}")), "{url}");
        let response = api.client.get(&url).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], content_type);
        assert_eq!(response.bytes().await.unwrap(), file.data);
    }

    let missing = api.client.get(format!("{}/media/123/f0.mp4", server.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

async fn cors_preflight_and_headers_on_errors(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let preflight = api
        .client
        .request(reqwest::Method::OPTIONS, format!("{}?Action=UploadPartUGC", api.endpoint()))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(headers["access-control-allow-headers"].to_str().unwrap().contains('*')
        || headers["access-control-allow-headers"].to_str().unwrap().contains("content-type"));
    assert!(headers.contains_key("access-control-max-age"));

    let error = api
        .client
        .get(format!("{}?Action=Nope", api.endpoint()))
        .header("origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(error.headers()["access-control-allow-origin"], "*");
    assert_failure(&expect_200(error).await, code::COMMON_PARAMS, false);
}

async fn common_parameter_and_signature_failures(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(1000, 10, APP_A);
    let sha = &file.sha;

    for query in ["", "Action=", "Action=DeleteEverything", "Action=initUploadUGC"] {
        let (status, answer) = api.get_raw(query).await;
        assert_eq!(status, 200);
        assert_failure(&answer, code::COMMON_PARAMS, false);
    }
    // Wrong methods.
    let post_init = api.post(format!("{}?Action=InitUploadUGC", api.endpoint()), vec![]).send().await.unwrap();
    assert_failure(&expect_200(post_init).await, code::COMMON_PARAMS, false);
    let get_part = api.get_raw(&format!("Action=UploadPartUGC&fileSha={sha}")).await.1;
    assert_failure(&get_part, code::COMMON_PARAMS, false);

    // Missing, empty, forged, expired, foreign and mismatched signatures.
    let missing = api.get_raw(&format!("Action=InitUploadUGC&fileSha={sha}&fileSize=1000")).await.1;
    assert_failure(&missing, code::SIGNATURE, false);
    let empty = api.init(sha, 1000, MIB, "").await;
    assert_failure(&empty, code::SIGNATURE, false);
    let forged = sign((APP_A.0, "not-the-key"), sha, None);
    let answer = api.init(sha, 1000, MIB, &forged).await;
    assert_failure(&answer, code::SIGNATURE, false);
    assert!(answer.message.contains("HMAC"), "{answer:?}");
    let unknown = sign(("AKIDnobody", "k"), sha, None);
    assert!(api.init(sha, 1000, MIB, &unknown).await.message.contains("unknown SecretId"));
    let expired = vod_ugc_upload::signature::Claims {
        secret_id: APP_A.0.into(),
        file_name: "x".into(),
        file_sha: sha.clone(),
        issued_at: now() - 10_000,
        expires_at: now() - 5_000,
        ..Default::default()
    }
    .sign(APP_A.1.as_bytes());
    let answer = api.init(sha, 1000, MIB, &expired).await;
    assert_failure(&answer, code::SIGNATURE, false);
    assert!(answer.message.contains("expired"), "{answer:?}");
    let other_sha = sha1_hex(b"other");
    let answer = api.init(&other_sha, 1000, MIB, &file.sig).await;
    assert_failure(&answer, code::SIGNATURE, false);
    assert!(answer.message.contains("fs does not match"), "{answer:?}");
    assert_failure(&api.init(sha, 1000, MIB, "bm90IGEgc2lnbmF0dXJl!!").await, code::SIGNATURE, false);
}

async fn protocol_parameter_failures(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(MIB + 10, 11, APP_A);
    let (sha, sig) = (&file.sha, enc(&file.sig));

    let bad = |query: String| {
        let api = api.clone();
        async move {
            let (status, answer) = api.get_raw(&query).await;
            assert_eq!(status, 200);
            assert_failure(&answer, code::PROTOCOL_PARAMS, false);
            answer
        }
    };
    bad(format!("Action=InitUploadUGC&fileSize=10&signature={sig}")).await;
    bad(format!("Action=InitUploadUGC&fileSha=xyz&fileSize=10&signature={sig}")).await;
    bad(format!("Action=InitUploadUGC&fileSha={sha}&signature={sig}")).await;
    bad(format!("Action=InitUploadUGC&fileSha={sha}&fileSize=0&signature={sig}")).await;
    bad(format!("Action=InitUploadUGC&fileSha={sha}&fileSize=-5&signature={sig}")).await;
    bad(format!("Action=InitUploadUGC&fileSha={sha}&fileSize=99999999999999999999999&signature={sig}")).await;
    bad(format!("Action=InitUploadUGC&fileSha={sha}&fileSize=18446744073709551615&signature={sig}")).await;
    bad(format!("Action=InitUploadUGC&fileSha={sha}&fileSize=100&dataSize=1000&signature={sig}")).await;
    bad(format!("Action=InitUploadUGC&fileSha={sha}&fileSize=100&dataSize=0&signature={sig}")).await;

    // dataSize defaults to 1 MiB; then another fileSize for the sha is refused.
    let (_, fresh) = api
        .get_raw(&format!("Action=InitUploadUGC&fileSha={sha}&fileSize={}&signature={sig}", file.data.len()))
        .await;
    assert_eq!(fresh.code, 0, "{fresh:?}");
    bad(format!("Action=InitUploadUGC&fileSha={sha}&fileSize=5&dataSize=1048576&signature={sig}")).await;

    // Parts that do not fit the plan, and malformed part parameters.
    let body = &file.data[..MIB];
    let md5 = md5_hex(body);
    for (offset, size) in [(1, MIB), (HALF, HALF), (2 * MIB, MIB), (0, HALF), (MIB, 11)] {
        let url = api.part_url(sha, offset, size, &md5, &file.sig);
        let answer = expect_200(api.post(url, body[..size].to_vec()).send().await.unwrap()).await;
        assert_failure(&answer, code::PROTOCOL_PARAMS, false);
    }
    let url = api.part_url(sha, 0, MIB, "not-an-md5", &file.sig);
    assert_failure(&expect_200(api.post(url, body.to_vec()).send().await.unwrap()).await, code::PROTOCOL_PARAMS, false);
    let url = format!("{}?Action=UploadPartUGC&fileSha={sha}&dataSize={MIB}&dataMd5={md5}&signature={sig}", api.endpoint());
    assert_failure(&expect_200(api.post(url, body.to_vec()).send().await.unwrap()).await, code::PROTOCOL_PARAMS, false);
    // Uppercase hex is accepted.
    let url = api.part_url(&sha.to_uppercase(), 0, MIB, &md5.to_uppercase(), &file.sig);
    assert_eq!(expect_200(api.post(url, body.to_vec()).send().await.unwrap()).await.code, 0);
}

async fn state_failures(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(MIB + 10, 12, APP_A);
    // Never initialised.
    assert_failure(&api.part(&file.sha, 0, &file.data[..MIB], &file.sig).await, code::READ_STATE, false);
    assert_failure(&api.finish(&file.sha, &file.sig).await, code::READ_STATE, false);
    // Finish with a part missing.
    assert_eq!(api.init(&file.sha, file.data.len(), MIB, &file.sig).await.code, 0);
    assert_eq!(api.part(&file.sha, 0, &file.data[..MIB], &file.sig).await.code, 0);
    let incomplete = api.finish(&file.sha, &file.sig).await;
    assert_failure(&incomplete, code::READ_STATE, false);
    assert!(incomplete.message.contains("offset 1048576"), "{incomplete:?}");
    // The failure did not harm the upload.
    assert_eq!(api.part(&file.sha, MIB, &file.data[MIB..], &file.sig).await.code, 0);
    assert_eq!(api.finish(&file.sha, &file.sig).await.code, 0);
}

#[tokio::test]
async fn an_unwritable_data_folder_answers_write_failure() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let file = TestFile::new(HALF, 13, APP_A);
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &file.sig).await.code, 0);
    // Temp files can no longer be created (a file stands where tmp/ was),
    // nor parts (a folder where the upload's file was).
    let tmp = server.data.join("tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::write(&tmp, b"in the way").unwrap();
    let keys = server.keys("apps/").await;
    let upload_file = server.data.join(keys.iter().find(|k| k.ends_with("/data")).unwrap());
    let aside = upload_file.with_extension("aside");
    std::fs::rename(&upload_file, &aside).unwrap();
    std::fs::create_dir(&upload_file).unwrap();
    let answer = api.part(&file.sha, 0, &file.data, &file.sig).await;
    assert_failure(&answer, code::WRITE_STATE, true);
    // The answer says what failed, never where on the server.
    let data = server.data.display().to_string();
    assert!(!answer.message.contains(&data) && !answer.message.contains("/tmp"), "{answer:?}");
    let other = TestFile::new(HALF, 14, APP_A);
    assert_failure(&api.init(&other.sha, HALF, HALF, &other.sig).await, code::WRITE_STATE, true);
    // Repaired, the same requests succeed.
    std::fs::remove_file(&tmp).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    std::fs::remove_dir(&upload_file).unwrap();
    std::fs::rename(&aside, &upload_file).unwrap();
    assert_eq!(api.part(&file.sha, 0, &file.data, &file.sig).await.code, 0);
    assert_eq!(api.finish(&file.sha, &file.sig).await.code, 0);
}

async fn bad_bodies_are_refused_and_not_stored(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(2 * HALF, 15, APP_A);
    let (sha, sig) = (&file.sha, &file.sig);
    assert_eq!(api.init(sha, file.data.len(), HALF, sig).await.code, 0);
    let part = &file.data[..HALF];
    let md5 = md5_hex(part);

    // Wrong MD5.
    let url = api.part_url(sha, 0, HALF, &md5_hex(b"x"), sig);
    assert_failure(&expect_200(api.post(url, part.to_vec()).send().await.unwrap()).await, code::BODY, false);
    // Longer and shorter than dataSize (Content-Length known up front).
    let mut long = part.to_vec();
    long.extend_from_slice(&[0; 1000]);
    let url = api.part_url(sha, 0, HALF, &md5, sig);
    assert_failure(&expect_200(api.post(url.clone(), long.clone()).send().await.unwrap()).await, code::BODY, false);
    assert_failure(&expect_200(api.post(url.clone(), part[1..].to_vec()).send().await.unwrap()).await, code::BODY, false);
    // Far too long, streamed without a Content-Length: refused once it
    // passes dataSize.
    let chunks = futures_util::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![7u8; 64 * 1024])));
    let streamed = api
        .client
        .post(url.clone())
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_failure(&expect_200(streamed).await, code::BODY, false);
    // A stream of exactly the right bytes is accepted, though: no length needed.
    let owned: Vec<Vec<u8>> = part.chunks(10_000).map(<[u8]>::to_vec).collect();
    let chunks = futures_util::stream::iter(owned.into_iter().map(Ok::<_, std::io::Error>));
    let streamed = api.client.post(url).body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
    assert_eq!(expect_200(streamed).await.code, 0);

    // Only the good part was stored.
    let resume = api.init(sha, file.data.len(), HALF, sig).await;
    let listed = resume.list_parts.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].data_md5.as_deref(), Some(md5.as_str()));
    let stored = server.keys("apps/").await;
    match store {
        Store::S3 => {
            assert_eq!(stored.len(), 2, "the state and one part: {stored:?}");
            assert!(stored.iter().any(|k| k.ends_with(&format!("/parts/0.{md5}"))), "{stored:?}");
        }
        // One file per upload and its part records (storage/disk_parts.rs).
        Store::Disk => {
            let names: Vec<&str> = stored.iter().filter_map(|k| k.rsplit('/').next()).collect();
            assert_eq!(names, ["data", "state.json"], "{stored:?}");
        }
    }
    assert_eq!(server.keys("tmp/").await, Vec::<String>::new(), "refused bodies leave no temp files");
}

async fn hostile_input_gets_json_and_the_server_keeps_serving(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let sha = sha1_hex(b"x");
    let queries = [
        "Action=%FF%FE%00".to_owned(),
        format!("Action=InitUploadUGC&fileSha=%FF{}&fileSize=%FF&signature=%C3%28", &sha[2..]),
        format!("Action=InitUploadUGC&fileSha={sha}&fileSize=1&signature=%FF%FF%FF%FF"),
        format!("Action=InitUploadUGC&fileSha={sha}&fileSize=1&dataSize=184467440737095516150000&signature=a"),
        "Action=FinishUploadUGC&fileSha=&signature=".to_owned(),
        format!("Action=FinishUploadUGC&fileSha={}&signature=x", "a".repeat(10_000)),
        "&&&===&Action&Action=".to_owned(),
    ];
    for query in &queries {
        let (status, answer) = api.get_raw(query).await;
        assert!(status < 500);
        assert!(answer.code < 0, "{query}: {answer:?}");
    }
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::PATCH] {
        let response = api.client.request(method, format!("{}?Action=InitUploadUGC", api.endpoint())).send().await.unwrap();
        let (status, answer) = read_answer(response).await;
        assert!(status < 500);
        assert_failure(&answer, code::COMMON_PARAMS, false);
    }
    // Raw bytes that are not UTF-8 in the request line itself.
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /v2/index.php?Action=\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let status: u16 = String::from_utf8_lossy(&reply[9..12]).parse().unwrap();
    assert!(status < 500, "{}", String::from_utf8_lossy(&reply));

    // Still serving.
    let file = TestFile::new(10, 16, APP_A);
    assert_eq!(api.upload(&file, HALF).await.code, 0);
}

async fn unfinished_uploads_expire_and_their_parts_are_deleted(store: Store) {
    let server = TestServer::start_on(store, &["--expire-unfinished-after", "2s"]).await;
    let api = server.api();
    let done = TestFile::new(HALF + 1, 17, APP_A);
    let finished = api.upload(&done, HALF).await;
    let file = TestFile::new(2 * HALF, 18, APP_A);
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &file.sig).await.code, 0);
    assert_eq!(api.part(&file.sha, 0, &file.data[..HALF], &file.sig).await.code, 0);
    assert!(server.keys("apps/").await.iter().any(|k| k.contains("/uploads/")));

    // Idle for 2 s, then the next sweep (every second here) deletes it.
    let started = std::time::Instant::now();
    while server.keys("apps/").await.iter().any(|k| k.contains("/uploads/")) {
        assert!(started.elapsed().as_secs() < 15, "{:?}", server.keys("apps/").await);
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(started.elapsed().as_millis() >= 1000, "not before it was idle long enough");
    assert_failure(&api.finish(&file.sha, &file.sig).await, code::READ_STATE, false);
    let fresh = api.init(&file.sha, file.data.len(), HALF, &file.sig).await;
    assert_eq!((fresh.code, fresh.list_parts), (0, None), "starts over");

    // Finished files do not expire.
    let instant = api.init(&done.sha, done.data.len(), HALF, &done.sig).await;
    assert_eq!((instant.code, &instant.file_id), (code::INSTANT, &finished.file_id));
    assert_eq!(api.fetch(&instant.url.unwrap()).await, done.data);
}

async fn finishes_at_once_answer_one_file(store: Store) {
    let server = TestServer::start_on(store, &[]).await;
    let api = server.api();
    let file = TestFile::new(3 * MIB + 5, 19, APP_A);
    assert_eq!(api.init(&file.sha, file.data.len(), MIB, &file.sig).await.code, 0);
    for (offset, len) in file.parts(MIB) {
        assert_eq!(api.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await.code, 0);
    }
    let finishes = (0..3).map(|_| api.finish(&file.sha, &file.sig));
    let answers = futures_util::future::join_all(finishes).await;
    for answer in &answers {
        assert_eq!((answer.code, &answer.file_id), (0, &answers[0].file_id), "{answers:?}");
    }
    assert_eq!(server.keys("media/").await.len(), 1, "one media object");
    assert_eq!(api.fetch(answers[0].url.as_ref().unwrap()).await, file.data);
}

/// Each test above, once per backend: `disk::name` and `s3::name`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod disk {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Store::Disk).await
            })*
        }
        mod s3 {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Store::S3).await
            })*
        }
    };
}

both_backends!(
    fresh_upload_with_parts_out_of_order,
    instant_upload_answers_the_same_file,
    resume_lists_stored_parts_with_the_sessions_part_size,
    a_session_without_parts_adopts_the_new_part_size,
    eight_parts_in_parallel,
    a_lying_file_sha_is_refused_and_never_offered,
    apps_are_isolated,
    media_is_served_with_ranges_and_types,
    cors_preflight_and_headers_on_errors,
    common_parameter_and_signature_failures,
    protocol_parameter_failures,
    state_failures,
    bad_bodies_are_refused_and_not_stored,
    hostile_input_gets_json_and_the_server_keeps_serving,
    unfinished_uploads_expire_and_their_parts_are_deleted,
    finishes_at_once_answer_one_file,
);
