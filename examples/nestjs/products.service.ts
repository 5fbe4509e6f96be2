import { Injectable } from '@nestjs/common';
import { Cached } from '../../decorators';

export interface Product {
  id: string;
  name: string;
  price: number;
}

const table: Product[] = [
  { id: 'p1', name: 'Desk lamp', price: 39 },
  { id: 'p2', name: 'Floor lamp', price: 129 },
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

@Injectable()
export class ProductsService {
  /** Database queries made, to show how many the cache saved. */
  queries = 0;

  // No cache named, no @CacheConfig: HerdlessModule made its cache the default.
  @Cached('10m')
  async getProduct(id: string): Promise<Product | undefined> {
    this.queries++;
    await sleep(200); // a slow database
    return table.find((p) => p.id === id);
  }
}
