use super::*;

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

fn err(r: Result<MountRequest>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

#[test]
fn volume_flag_named_anonymous_bind() {
    assert_eq!(
        parse_volume_flag("db:/var/lib/db").unwrap(),
        MountRequest::Volume { name: Some("db".into()), dst: p("/var/lib/db"), readonly: false, nocopy: false }
    );
    assert_eq!(
        parse_volume_flag("db:/data:ro").unwrap(),
        MountRequest::Volume { name: Some("db".into()), dst: p("/data"), readonly: true, nocopy: false }
    );
    assert_eq!(
        parse_volume_flag("/data/").unwrap(),
        MountRequest::Volume { name: None, dst: p("/data"), readonly: false, nocopy: false }
    );
    assert_eq!(
        parse_volume_flag("/tmp:/host:rw").unwrap(),
        MountRequest::Bind { src: p("/tmp"), dst: p("/host"), readonly: false, propagation: None }
    );
    assert_eq!(
        parse_volume_flag("/tmp:/host:ro,rslave").unwrap(),
        MountRequest::Bind { src: p("/tmp"), dst: p("/host"), readonly: true, propagation: Some(Propagation::RSlave) }
    );
    assert_eq!(
        parse_volume_flag("v1:/d:nocopy").unwrap(),
        MountRequest::Volume { name: Some("v1".into()), dst: p("/d"), readonly: false, nocopy: true }
    );
}

#[test]
fn volume_flag_errors_name_the_text() {
    let e = err(parse_volume_flag("/nonexistent-minirun-src:/x"));
    assert!(e.contains("/nonexistent-minirun-src") && e.contains("does not exist"), "{e}");
    let e = err(parse_volume_flag("db:relative"));
    assert!(e.contains("\"db:relative\"") && e.contains("absolute"), "{e}");
    let e = err(parse_volume_flag("db:/a/../b"));
    assert!(e.contains(".."), "{e}");
    let e = err(parse_volume_flag("db:/x:bogus"));
    assert!(e.contains("bogus"), "{e}");
    let e = err(parse_volume_flag("-bad:/x"));
    assert!(e.contains("invalid volume name"), "{e}");
    let e = err(parse_volume_flag("b@d:/x"));
    assert!(e.contains("b@d"), "{e}");
    let e = err(parse_volume_flag("./rel:/x"));
    assert!(e.contains("absolute"), "{e}");
    let e = err(parse_volume_flag("relative"));
    assert!(e.contains("absolute destination"), "{e}");
    let e = err(parse_volume_flag("a:/b:ro:x"));
    assert!(e.contains("invalid volume specification"), "{e}");
    let e = err(parse_volume_flag("db:/"));
    assert!(e.contains("can't be \"/\""), "{e}");
    let e = err(parse_volume_flag(":/x"));
    assert!(e.contains("empty volume name"), "{e}");
    let e = err(parse_volume_flag("db:/x:ro,rw"));
    assert!(e.contains("twice"), "{e}");
    let e = err(parse_volume_flag("/tmp:/x:nocopy"));
    assert!(e.contains("nocopy"), "{e}");
}

#[test]
fn mount_flag_volume() {
    assert_eq!(
        parse_mount_flag("type=volume,src=db,dst=/var/lib/mysql").unwrap(),
        MountRequest::Volume { name: Some("db".into()), dst: p("/var/lib/mysql"), readonly: false, nocopy: false }
    );
    assert_eq!(
        parse_mount_flag("type=volume,target=/x,readonly,volume-nocopy").unwrap(),
        MountRequest::Volume { name: None, dst: p("/x"), readonly: true, nocopy: true }
    );
    assert_eq!(
        parse_mount_flag("source=v,destination=/x,ro=true").unwrap(),
        MountRequest::Volume { name: Some("v".into()), dst: p("/x"), readonly: true, nocopy: false }
    );
    assert_eq!(
        parse_mount_flag("type=volume,source=v,dst=/x,readonly=0").unwrap(),
        MountRequest::Volume { name: Some("v".into()), dst: p("/x"), readonly: false, nocopy: false }
    );
}

#[test]
fn mount_flag_bind_and_tmpfs() {
    assert_eq!(
        parse_mount_flag("type=bind,source=/tmp,target=/h,readonly,bind-propagation=shared").unwrap(),
        MountRequest::Bind { src: p("/tmp"), dst: p("/h"), readonly: true, propagation: Some(Propagation::Shared) }
    );
    assert_eq!(
        parse_mount_flag("type=tmpfs,dst=/run,tmpfs-size=64m,tmpfs-mode=1770").unwrap(),
        MountRequest::Tmpfs { dst: p("/run"), size: Some(64 << 20), mode: Some(0o1770) }
    );
    assert_eq!(
        parse_mount_flag("type=tmpfs,destination=/run").unwrap(),
        MountRequest::Tmpfs { dst: p("/run"), size: None, mode: None }
    );
}

#[test]
fn mount_flag_errors() {
    let cases = [
        ("type=nfs,dst=/x", "unknown mount type \"nfs\""),
        ("type=volume,dst=/x,colour=red", "unknown key \"colour\""),
        ("type=bind,target=/x", "needs source"),
        ("type=bind,source=/nonexistent-minirun,target=/x", "does not exist"),
        ("type=bind,source=relative,target=/x", "absolute"),
        ("type=volume,src=v", "missing target"),
        ("type=volume,src=v,dst=x", "absolute"),
        ("type=volume,src=v,dst=/a/..", "\"..\""),
        ("type=tmpfs,dst=/x,tmpfs-size=lots", "invalid tmpfs-size \"lots\""),
        ("type=tmpfs,dst=/x,tmpfs-mode=999", "invalid tmpfs-mode \"999\""),
        ("type=tmpfs,dst=/x,tmpfs-mode=17777", "invalid tmpfs-mode"),
        ("type=tmpfs,src=a,dst=/x", "takes no source"),
        ("type=volume,src=v,dst=/x,tmpfs-size=1m", "tmpfs-size is not valid for type=volume"),
        ("type=bind,src=/tmp,dst=/x,volume-nocopy", "volume-nocopy is not valid for type=bind"),
        ("type=bind,src=/tmp,dst=/x,bind-propagation=weird", "invalid bind-propagation \"weird\""),
        ("type=volume,src=v,dst=/x,readonly=maybe", "invalid value \"maybe\""),
        ("type=volume,src=,dst=/x", "src needs a value"),
        ("type=volume,src=v/w,dst=/x", "invalid volume name"),
        ("type=volume,,dst=/x", "empty field"),
    ];
    for (input, want) in cases {
        let e = err(parse_mount_flag(input));
        assert!(e.contains(want), "{input}: {e}");
        assert!(e.contains(&format!("{input:?}")), "error must quote the input: {e}");
    }
}

#[test]
fn tmpfs_flag() {
    assert_eq!(parse_tmpfs_flag("/run").unwrap(), MountRequest::Tmpfs { dst: p("/run"), size: None, mode: None });
    assert_eq!(
        parse_tmpfs_flag("/run:size=1g,mode=755").unwrap(),
        MountRequest::Tmpfs { dst: p("/run"), size: Some(1 << 30), mode: Some(0o755) }
    );
    assert!(err(parse_tmpfs_flag("/run:size=x")).contains("invalid size \"x\""));
    assert!(err(parse_tmpfs_flag("/run:mode=8")).contains("invalid mode \"8\""));
    assert!(err(parse_tmpfs_flag("/run:noexec")).contains("unknown tmpfs option \"noexec\""));
    assert!(err(parse_tmpfs_flag("run")).contains("absolute"));
}

#[test]
fn sizes_and_modes() {
    assert_eq!(parse_size("1024"), Some(1024));
    assert_eq!(parse_size("512k"), Some(512 << 10));
    assert_eq!(parse_size("64M"), Some(64 << 20));
    assert_eq!(parse_size("2gb"), Some(2 << 30));
    assert_eq!(parse_size("1.5g"), Some(3 << 29));
    assert_eq!(parse_size(""), None);
    assert_eq!(parse_size("m"), None);
    assert_eq!(parse_size("-1"), None);
    assert_eq!(parse_size("1x"), None);
    assert_eq!(parse_mode("1777"), Some(0o1777));
    assert_eq!(parse_mode("0700"), Some(0o700));
    assert_eq!(parse_mode("9"), None);
    assert_eq!(parse_mode(""), None);
}

#[test]
fn names() {
    for ok in ["a", "db", "my_vol.1-x", "0abc"] {
        validate_volume_name(ok).unwrap();
    }
    for bad in ["", "_a", ".a", "-a", "a/b", "a b", "a:b", "é"] {
        assert!(validate_volume_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn duplicates() {
    let a = parse_volume_flag("v:/data").unwrap();
    let b = parse_tmpfs_flag("/data/").unwrap();
    let c = parse_tmpfs_flag("/other").unwrap();
    check_all(&[a.clone(), c.clone()]).unwrap();
    let e = format!("{:#}", check_all(&[a, c, b]).unwrap_err());
    assert!(e.contains("duplicate mount point: /data"), "{e}");
}
