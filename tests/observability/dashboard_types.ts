// Types the dashboard JSON is checked against: @grafana/schema's Dashboard,
// plus a stricter view of our panels (their options, field config and
// Prometheus queries), since the schema types a panel's options and targets
// as open records that accept anything.
import type {
  DataQuery,
  DataSourceRef,
  Dashboard,
  FieldConfig,
  FieldConfigSource,
  Panel,
  RowPanel,
} from '@grafana/schema';
import type * as Stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as TimeSeries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

// JSON cannot name a TypeScript string enum member, only its value: map each
// string enum in T to the union of its values, keeping every other type (and
// so every excess-property and required-property check) as it is.
export type AsJson<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer Item>
      ? Array<AsJson<Item>>
      : T extends object
        ? { [Key in keyof T]: AsJson<T[Key]> }
        : T;

// The fields of a query of Grafana's Prometheus data source that this
// dashboard uses (the plugin's own types live outside @grafana/schema).
interface PrometheusQuery extends DataQuery {
  datasource: DataSourceRef;
  expr: string;
  legendFormat?: string;
  range?: boolean;
  instant?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  editorMode?: 'code' | 'builder';
  exemplar?: boolean;
  interval?: string;
}

type TypedPanel<PanelType extends string, Options, CustomFieldConfig> = Omit<
  Panel,
  'type' | 'options' | 'targets' | 'fieldConfig'
> & {
  type: PanelType;
  title: string;
  description: string;
  datasource: DataSourceRef;
  options: Options;
  fieldConfig: {
    defaults: Omit<FieldConfig, 'custom'> & { custom?: CustomFieldConfig };
    overrides: FieldConfigSource['overrides'];
  };
  targets: PrometheusQuery[];
};

type SquantPanel =
  | TypedPanel<'timeseries', TimeSeries.Options, TimeSeries.FieldConfig>
  | TypedPanel<'stat', Stat.Options, never>
  | (Omit<RowPanel, 'panels'> & { panels: [] });

export type SchemaDashboard = AsJson<Dashboard>;

export type StrictDashboard = AsJson<
  Omit<Dashboard, 'panels'> & { title: string; uid: string; panels: SquantPanel[] }
>;
