//! The anchor: osm2pgrouting into a fresh PostGIS + pgRouting database per run, its tools
//! checked and installed, and the conversions of PBF and gzip inputs to the OSM XML it reads.

use super::*;

/// Checks osm2pgrouting, osmium, GNU time and the pgRouting extension for the server's major
/// version; installs the missing Debian packages (as root) in one `apt-get install`.
pub(crate) async fn prepare_anchor(url: &str, gnu_time: bool) -> anyhow::Result<AnchorTools> {
    let admin: PgConnectOptions = url.parse().context("parsing --database-url")?;
    let mut conn = crate::postgis::connect_admin(&admin).await?;
    let version_num: String = sqlx::query("SHOW server_version_num")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    let major = version_num
        .trim()
        .parse::<u32>()
        .with_context(|| format!("parsing server_version_num {version_num}"))?
        / 10_000;
    let pgrouting_package = format!("postgresql-{major}-pgrouting");

    let mut missing = Vec::new();
    if !on_path("osm2pgrouting") {
        missing.push("osm2pgrouting".to_string());
    }
    if !on_path("osmium") {
        missing.push("osmium-tool".to_string());
    }
    if !gnu_time {
        missing.push("time".to_string());
    }
    if !pgrouting_available(&mut conn).await? {
        missing.push(pgrouting_package.clone());
    }
    if !missing.is_empty() {
        let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
        crate::apt_install(
            &missing,
            "the osm2pgrouting anchor (or pass --skip-osm2pgrouting)",
        )?;
        anyhow::ensure!(
            on_path("osm2pgrouting") && on_path("osmium"),
            "osm2pgrouting or osmium still not on PATH after installing {}",
            missing.join(" ")
        );
        anyhow::ensure!(
            pgrouting_available(&mut conn).await?,
            "the server (PostgreSQL {major}) lists no pgrouting extension after installing \
             {pgrouting_package}; is the server on this machine?"
        );
    }
    drop(conn);

    let mapconfig = find_mapconfig()?;
    let version = Command::new("osm2pgrouting")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).into_owned();
            text.lines()
                .find(|l| l.to_lowercase().contains("version"))
                .map(|l| l.trim().trim_start_matches("This is ").to_string())
        })
        .unwrap_or_else(|| "osm2pgrouting (version unknown)".into());
    eprintln!("  anchor: {version}, config {}", mapconfig.display());
    Ok(AnchorTools {
        admin,
        mapconfig,
        version,
    })
}

/// Whether the server offers the pgrouting extension (its files are installed).
pub(crate) async fn pgrouting_available(conn: &mut sqlx::PgConnection) -> anyhow::Result<bool> {
    let n: i64 =
        sqlx::query("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgrouting'")
            .fetch_one(conn)
            .await?
            .try_get(0)?;
    Ok(n > 0)
}

/// osm2pgrouting's `mapconfig.xml`, from the package's file list.
pub(crate) fn find_mapconfig() -> anyhow::Result<PathBuf> {
    if let Ok(output) = Command::new("dpkg").args(["-L", "osm2pgrouting"]).output() {
        let listed = String::from_utf8_lossy(&output.stdout);
        let mut candidates: Vec<&str> = listed
            .lines()
            .filter(|l| l.ends_with("/mapconfig.xml"))
            .collect();
        // The default one, before any variant in a subdirectory.
        candidates.sort_by_key(|l| (*l != MAPCONFIG, l.len()));
        if let Some(found) = candidates.first() {
            return Ok(PathBuf::from(found));
        }
    }
    let default = PathBuf::from(MAPCONFIG);
    anyhow::ensure!(
        default.is_file(),
        "osm2pgrouting's mapconfig.xml not found (not in `dpkg -L osm2pgrouting`, not at {MAPCONFIG})"
    );
    Ok(default)
}

/// osm2pgrouting `runs` times on the extract, each into a fresh database.
pub(super) async fn run_anchor(
    tools: &AnchorTools,
    file: &Path,
    name: &str,
    runs: usize,
) -> anyhow::Result<AnchorReport> {
    let work = TempDir::labelled("import-anchor")?;
    let (xml, conversion) = to_osm_xml(file, name, &work.0).await?;
    let mut out = Vec::with_capacity(runs);
    for run in 1..=runs {
        eprintln!("  [{name}] osm2pgrouting, run {run}/{runs} (slow)");
        let database = format!("geostack_bench_import_{}", std::process::id());
        crate::postgis::create_database(&tools.admin, &database).await?;
        let result = anchor_once(tools, &xml, &database, &work.0).await;
        crate::postgis::drop_database(&tools.admin, &database).await;
        let result = result.with_context(|| format!("osm2pgrouting run {run} on {name}"))?;
        eprintln!(
            "  [{name}]   {:.2} s, {} ways rows",
            result.wall.as_secs_f64(),
            result.ways
        );
        out.push(result);
    }
    Ok(AnchorReport {
        conversion,
        runs: out,
    })
}

/// The extract as OSM XML for osm2pgrouting, written into `dir` (unless it already is plain,
/// ordered XML), with a line describing the conversion.
///
/// osm2pgrouting resolves a way's nodes only against nodes it has already read, so a file
/// not ordered by type and id (columbus.osm.pbf has ways before some of their nodes) is
/// converted with `osmium sort` instead of `osmium cat` / `gzip -dc`: otherwise it silently
/// drops those nodes and builds a broken graph (83 vertices for 70,337 ways on Columbus).
pub(crate) async fn to_osm_xml(
    file: &Path,
    name: &str,
    dir: &Path,
) -> anyhow::Result<(PathBuf, String)> {
    let stem = name
        .trim_end_matches(".gz")
        .trim_end_matches(".pbf")
        .trim_end_matches(".osm");
    let xml = dir.join(format!("{stem}.osm"));
    let started = Instant::now();
    let ordered = objects_ordered(file).await?;
    let how = if !ordered {
        eprintln!(
            "  [{name}] not ordered by type and id: converting to OSM XML with osmium sort \
             (not timed)"
        );
        osmium([
            "sort".as_ref(),
            file.as_os_str(),
            "-o".as_ref(),
            xml.as_os_str(),
        ])
        .await?;
        "osmium sort (the input is not ordered by type and id, which osm2pgrouting needs)"
    } else if name.ends_with(".pbf") {
        eprintln!("  [{name}] converting to OSM XML with osmium cat (not timed)");
        osmium([
            "cat".as_ref(),
            file.as_os_str(),
            "-o".as_ref(),
            xml.as_os_str(),
        ])
        .await?;
        "osmium cat"
    } else if name.ends_with(".gz") {
        eprintln!("  [{name}] decompressing to OSM XML with gzip -dc (not timed)");
        let target =
            std::fs::File::create(&xml).with_context(|| format!("creating {}", xml.display()))?;
        // Not `output()`: tokio's would replace the file with a pipe.
        let output = tokio::process::Command::new("gzip")
            .arg("-dc")
            .arg(file)
            .stdout(target)
            .stderr(Stdio::piped())
            .spawn()
            .context("running gzip -dc")?
            .wait_with_output()
            .await
            .context("running gzip -dc")?;
        anyhow::ensure!(
            output.status.success(),
            "gzip -dc {} failed ({}): {}",
            file.display(),
            output.status,
            tail(&String::from_utf8_lossy(&output.stderr), 5)
        );
        "gzip -dc"
    } else {
        return Ok((
            file.to_path_buf(),
            "the input is ordered OSM XML already".into(),
        ));
    };
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&xml)
        .with_context(|| format!("reading {}", xml.display()))?
        .len();
    Ok((
        xml,
        format!(
            "{how} to OSM XML ({:.1} MB) in {seconds:.2} s, before and outside the timing",
            bytes as f64 / 1e6
        ),
    ))
}

/// Whether the file's objects are ordered by type and id (`osmium fileinfo -e`).
pub(crate) async fn objects_ordered(file: &Path) -> anyhow::Result<bool> {
    let output = tokio::process::Command::new("osmium")
        .args(["fileinfo", "-e", "-g", "data.objects_ordered"])
        .arg(file)
        .output()
        .await
        .context("running osmium fileinfo")?;
    let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
    anyhow::ensure!(
        output.status.success() && (answer == "yes" || answer == "no"),
        "osmium fileinfo -e -g data.objects_ordered {} failed ({}): {}{}",
        file.display(),
        output.status,
        answer,
        tail(&String::from_utf8_lossy(&output.stderr), 5)
    );
    Ok(answer == "yes")
}

/// `osmium <args> --overwrite`; a failure carries the tail of its output.
pub(crate) async fn osmium(args: [&OsStr; 4]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("osmium")
        .args(args)
        .arg("--overwrite")
        .output()
        .await
        .context("running osmium")?;
    anyhow::ensure!(
        output.status.success(),
        "osmium {} failed ({}): {}",
        join_args(&args),
        output.status,
        tail(&String::from_utf8_lossy(&output.stderr), 5)
    );
    Ok(())
}

/// One osm2pgrouting import into `database` (already created).
pub(crate) async fn anchor_once(
    tools: &AnchorTools,
    xml: &Path,
    database: &str,
    work: &Path,
) -> anyhow::Result<AnchorRun> {
    let db = tools.admin.clone().database(database);
    let mut conn = db
        .connect()
        .await
        .with_context(|| format!("connecting to {database}"))?;
    crate::postgis::create_postgis(&mut conn).await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pgrouting")
        .execute(&mut conn)
        .await
        .context("CREATE EXTENSION pgrouting")?;

    let port = tools.admin.get_port().to_string();
    let args: [&OsStr; 13] = [
        "--file".as_ref(),
        xml.as_os_str(),
        "--conf".as_ref(),
        tools.mapconfig.as_os_str(),
        "--dbname".as_ref(),
        database.as_ref(),
        "--host".as_ref(),
        tools.admin.get_host().as_ref(),
        "--port".as_ref(),
        port.as_ref(),
        "--username".as_ref(),
        tools.admin.get_username().as_ref(),
        "--clean".as_ref(),
    ];
    let measured = run_measured(
        Path::new("osm2pgrouting"),
        &args,
        true,
        &work.join("time.txt"),
    )
    .await?;
    std::fs::write(
        work.join("osm2pgrouting.log"),
        format!("{}\n{}", measured.stdout, measured.stderr),
    )?;
    let ways: i64 = sqlx::query("SELECT count(*) FROM ways")
        .fetch_one(&mut conn)
        .await
        .with_context(|| {
            format!(
                "counting the ways osm2pgrouting wrote (its output ends: {})",
                tail(&format!("{}\n{}", measured.stdout, measured.stderr), 5)
            )
        })?
        .try_get(0)?;
    let vertices: i64 = sqlx::query("SELECT count(*) FROM ways_vertices_pgr")
        .fetch_one(&mut conn)
        .await
        .context("counting ways_vertices_pgr")?
        .try_get(0)?;
    anyhow::ensure!(
        ways > 0,
        "osm2pgrouting wrote no ways (its output ends: {})",
        tail(&format!("{}\n{}", measured.stdout, measured.stderr), 5)
    );
    Ok(AnchorRun {
        wall: measured.wall,
        peak_bytes: measured.peak_bytes,
        ways,
        vertices,
    })
}
